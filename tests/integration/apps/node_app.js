// A small Node HTTP server for t_bridge_node: GET /<tag>/<id> logs one
// stderr line per log-site, each naming the id: on arrival, after an
// awaited timer, after an upstream http.get, inside a crypto.pbkdf2
// callback (thread pool), from fs.writeSync(2) in a setImmediate (how
// pino-style loggers write), from a child process (sh) the request
// starts, and when the response has finished. With LEAF_PORT set, each
// request also calls that service (another process, reached as
// 'localhost': a DNS lookup first; through an undici Pool of four
// connections when undici can be required (NODE_PATH), which makes a
// waiting request only when another request's call finishes, from its
// callback; else through an http.Agent of four sockets) with GET
// /leaf/<id>, after the timer: what
// the agent propagates there (X-Request-Id, traceparent) is the test's to
// check. With CHAIN_LOG set, each request logs only site=chain, through
// a buffered asynchronous logger (fs.write of whatever has gathered,
// from the previous write's callback, as pino's asynchronous destination
// does), and answers.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const { spawn } = require('child_process');
const { setTimeout: sleep } = require('timers/promises');

const upstream = http.createServer((req, res) => {
	setTimeout(() => res.end('up'), 1);
});
// An idle pooled connection outlives any pause of a slow run (Node's 5 s
// default can close one as the pool reuses it: ECONNRESET, with or
// without the agent).
upstream.keepAliveTimeout = 60000;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const leafAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });

let chained = '', writing = false;
function chainFlush() {
	writing = true;
	const b = chained;
	chained = '';
	fs.write(2, b, () => {
		writing = false;
		if (chained)
			chainFlush();
	});
}
function chainLog(s) {
	chained += s + '\n';
	if (!writing)
		chainFlush();
}

const leafPort = process.env.LEAF_PORT ? Number(process.env.LEAF_PORT) : 0;
let leafPool = null;
try {
	if (leafPort)
		leafPool = new (require('undici').Pool)('http://localhost:' + leafPort, { connections: 4 });
} catch (e) { /* no undici: http.get below */ }
if (leafPort)
	process.stderr.write('leaf via ' + (leafPool ? 'undici' : 'http') + '\n');

async function leaf(id) {
	if (leafPool === null)
		return get(leafPort, '/leaf/' + id, 'localhost', leafAgent);
	const r = await leafPool.request({ path: '/leaf/' + id, method: 'GET' });
	await r.body.text();
}

function get(port, path = '/up', host = '127.0.0.1', via = agent) {
	return new Promise((resolve, reject) => {
		http.get({ host, port, path, agent: via }, (r) => {
			r.resume();
			r.on('end', resolve);
		}).on('error', reject);
	});
}

upstream.listen(0, '127.0.0.1', () => {
	const upPort = upstream.address().port;
	const server = http.createServer((req, res) => {
		const id = req.url.split('/')[2];
		// a request that fails answers 500 and says why (not scored: no
		// "site="); the test counts it failed, the server goes on
		serve(req, res, id).catch((e) => {
			process.stderr.write(`app error for ${id}: ${e && e.stack || e}\n`);
			res.statusCode = 500;
			res.end();
		});
	});
	async function serve(req, res, id) {
		if (process.env.CHAIN_LOG) {
			await sleep(Math.random() * 3);
			chainLog(`site=chain id=${id}`);
			res.end('ok ' + id);
			return;
		}
		console.error(`site=arrival id=${id}`);
		await sleep(1 + Math.random() * 4);
		console.error(`site=timer id=${id}`);
		if (leafPort)
			await leaf(id);
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
	}
	server.listen(0, '127.0.0.1', () => {
		process.stdout.write('listening ' + server.address().port + '\n');
	});
});
process.on('SIGTERM', () => process.exit(0));
