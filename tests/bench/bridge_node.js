// tests/bench/bridges: a minimal Node server. Each request logs a line on
// arrival and one after an awaited timer, then answers.
'use strict';
const http = require('http');
const { setTimeout: sleep } = require('timers/promises');
const server = http.createServer(async (req, res) => {
	console.error('arrival ' + req.url);
	await sleep(0);
	console.error('done ' + req.url);
	res.end('ok');
});
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\n'));
process.on('SIGTERM', () => process.exit(0));
