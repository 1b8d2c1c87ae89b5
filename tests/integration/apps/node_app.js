// A small Node HTTP server for t_bridge_node: GET /<tag>/<id> logs one
// stderr line per log-site, each naming the id: on arrival, after an
// awaited timer, after an upstream http.get, inside a crypto.pbkdf2
// callback (thread pool), and when the response has finished.
'use strict';
const http = require('http');
const crypto = require('crypto');
const { setTimeout: sleep } = require('timers/promises');

const upstream = http.createServer((req, res) => {
	setTimeout(() => res.end('up'), 1);
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function get(port) {
	return new Promise((resolve, reject) => {
		http.get({ host: '127.0.0.1', port, path: '/up', agent }, (r) => {
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
		await get(upPort);
		console.error(`site=upstream id=${id}`);
		await new Promise((resolve) => {
			crypto.pbkdf2('secret', id, 200, 16, 'sha256', () => {
				console.error(`site=pbkdf2 id=${id}`);
				resolve();
			});
		});
		res.on('finish', () => console.error(`site=finish id=${id}`));
		res.end('ok ' + id);
	});
	server.listen(0, '127.0.0.1', () => {
		process.stdout.write('listening ' + server.address().port + '\n');
	});
});
process.on('SIGTERM', () => process.exit(0));
