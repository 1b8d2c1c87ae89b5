// tests/integration/t_node_workers: a worker_threads pool made lazily,
// inside the first request that needs it. GET /<tag>/<id> logs
// "site=arrival id=<id>", posts the id to a worker, which logs
// "site=worker id=<id>" (its stderr is written by this thread); the
// answer's handler logs "site=message id=<id>" and the request, once the
// answer resolved what it awaits, "site=done id=<id>". Prints
// "listening <port>".
'use strict';
const http = require('http');
const { Worker } = require('worker_threads');

const SRC = `
const { parentPort } = require('worker_threads');
parentPort.on('message', (id) => {
  console.error('site=worker id=' + id);
  parentPort.postMessage(id);
});`;
let pool = null;
const waiting = new Map();

function workers() {
  if (pool === null) {
    pool = [0, 1].map(() => {
      const w = new Worker(SRC, { eval: true });
      w.on('message', (id) => {
        console.error('site=message id=' + id);
        const done = waiting.get(id);
        waiting.delete(id);
        if (done)
          done();
      });
      return w;
    });
  }
  return pool;
}

let turn = 0;
const srv = http.createServer(async (req, res) => {
  const id = req.url.split('/')[2];
  console.error('site=arrival id=' + id);
  const answered = new Promise((resolve) => waiting.set(id, resolve));
  workers()[turn++ % 2].postMessage(id);
  await answered;
  console.error('site=done id=' + id);
  res.end('ok ' + id);
});
srv.listen(0, '127.0.0.1', () => console.log('listening ' + srv.address().port));
