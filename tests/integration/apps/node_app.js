// A small Node HTTP server for t_bridge_node: GET /<tag>/<id> logs one
// stderr line per log-site, each naming the id: on arrival, after an
// awaited timer, after an upstream http.get, inside a crypto.pbkdf2
// callback (thread pool), from fs.writeSync(2) in a setImmediate (how
// pino-style loggers write), from a child process (sh) the request
// starts, and when the response has finished. With LEAF_PORT set, each
// request also calls that service (another process, reached as
// 'localhost': a DNS lookup first) with GET /leaf/<id>, after the timer:
// what the agent propagates there (X-Request-Id, traceparent) is the
// test's to check.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const { spawn } = require('child_process');
const { setTimeout: sleep } = require('timers/promises');

const upstream = http.createServer((req, res) => {
	setTimeout(() => res.end('up'), 1);
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

const leafPort = process.env.LEAF_PORT ? Number(process.env.LEAF_PORT) : 0;

function get(port, path = '/up', host = '127.0.0.1') {
	return new Promise((resolve, reject) => {
		http.get({ host, port, path, agent }, (r) => {
			r.resume();
			r.on('end', resolve);
		}).on('error', reject);
	});
}

upstream.listen(0, '127.0.0.1', () => {
	const upPort = upstream.address().port;
	const server = http.createServer(async (req, res) => {
		const id = req.url.split('/')[2];
		console.error(`site=arrival id=${id}`);
		await sleep(1 + Math.random() * 4);
		console.error(`site=timer id=${id}`);
		if (leafPort)
			await get(leafPort, '/leaf/' + id, 'localhost');
		await get(upPort);
		console.error(`site=upstream id=${id}`);
		await new Promise((resolve) => {
			crypto.pbkdf2('secret', id, 200, 16, 'sha256', () => {
				console.error(`site=pbkdf2 id=${id}`);
				resolve();
			});
		});
		await new Promise((resolve) => setImmediate(() => {
			fs.writeSync(2, `site=fswrite id=${id}\n`);
			resolve();
		}));
		await new Promise((resolve, reject) => {
			spawn('/bin/sh', ['-c', 'echo "site=child id=$0" >&2', id],
			      { stdio: ['ignore', 'ignore', 'inherit'] })
				.on('error', reject).on('exit', resolve);
		});
		res.on('finish', () => console.error(`site=finish id=${id}`));
		res.end('ok ' + id);
	});
	server.listen(0, '127.0.0.1', () => {
		process.stdout.write('listening ' + server.address().port + '\n');
	});
});
process.on('SIGTERM', () => process.exit(0));
