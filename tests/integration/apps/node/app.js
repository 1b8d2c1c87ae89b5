// Node app for t_rt_node. Usage: node app.js http|express PORT UPSTREAM_PORT
// One process runs the app on PORT and a small upstream on UPSTREAM_PORT.
// Every line it writes to stderr is "site=<log-site> id=<id> pid=<pid>":
//   arrival         in the handler, first thing
//   after_timer     after await new Promise(r => setTimeout(r, 5))
//   upstream        in the upstream's handler (the app calls it with
//                   http.get, X-Request-Id set to the same id)
//   after_upstream  in the app, after the upstream's answer has been read
//   pbkdf2          inside the callback of crypto.pbkdf2 (libuv thread pool)
//   end             in the handler, before it answers
// express (from build/npm, scripts/install-npm-deps) is found through
// NODE_PATH.
'use strict';
const http = require('http');
const crypto = require('crypto');

const [kind, portArg, upArg] = process.argv.slice(2);
const port = Number(portArg);
const upPort = Number(upArg);

function log(site, id) {
  console.error(`site=${site} id=${id} pid=${process.pid}`);
}

function idOf(url) {
  const m = /[?&]id=([^&]*)/.exec(url || '');
  return m ? m[1] : '-';
}

const upstream = http.createServer((req, res) => {
  const id = idOf(req.url);
  log('upstream', id);
  res.setHeader('Content-Type', 'text/plain');
  res.end(`up ${id}\n`);
});

function callUpstream(id) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: upPort, path: `/up?id=${id}`,
                           headers: { 'X-Request-Id': id } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

function pbkdf2(id) {
  return new Promise((resolve, reject) => {
    crypto.pbkdf2('secret', id, 1000, 32, 'sha256', (err, key) => {
      log('pbkdf2', id);
      if (err) reject(err); else resolve(key);
    });
  });
}

async function work(id) {
  log('arrival', id);
  await new Promise((r) => setTimeout(r, 5));
  log('after_timer', id);
  await callUpstream(id);
  log('after_upstream', id);
  await pbkdf2(id);
  log('end', id);
  return `ok ${id}\n`;
}

let server;
if (kind === 'http') {
  server = http.createServer((req, res) => {
    work(idOf(req.url)).then((body) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(body);
    }, (err) => {
      console.error(`error ${err}`);
      res.statusCode = 500;
      res.end();
    });
  });
} else if (kind === 'express') {
  const express = require('express');
  const app = express();
  app.get('/job', async (req, res, next) => {
    try {
      res.type('text/plain').send(await work(String(req.query.id)));
    } catch (err) {
      next(err);
    }
  });
  server = http.createServer(app);
} else {
  console.error('usage: node app.js http|express PORT UPSTREAM_PORT');
  process.exit(2);
}

upstream.listen(upPort, '127.0.0.1', () => {
  server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
});
process.on('SIGTERM', () => process.exit(0));
