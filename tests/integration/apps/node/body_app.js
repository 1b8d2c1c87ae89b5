// tests/integration/t_node_body: a server whose handlers read the request
// body through the request's own events. POST /<key> logs
// "req=<key> arrival", "req=<key> data" per chunk, "req=<key> end"; then
// answers. Prints "listening <port>".
'use strict';
const http = require('http');

const srv = http.createServer((req, res) => {
  const key = req.url.slice(1);
  console.error('req=' + key + ' arrival');
  req.on('data', () => console.error('req=' + key + ' data'));
  req.on('end', () => {
    console.error('req=' + key + ' end');
    res.end('ok');
  });
});
srv.listen(0, '127.0.0.1', () => console.log('listening ' + srv.address().port));
