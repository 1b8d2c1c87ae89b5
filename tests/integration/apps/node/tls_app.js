// tests/integration/t_node_tls: an HTTPS server (Node's TLS is linked into
// Node: the agent sees only encrypted bytes). GET /<key> logs
// "req=<key> arrival", awaits a timer, logs "req=<key> done". The key and
// certificate are the files named by TLS_KEY and TLS_CERT. Prints
// "listening <port>".
'use strict';
const https = require('https');
const fs = require('fs');

const srv = https.createServer({
  key: fs.readFileSync(process.env.TLS_KEY),
  cert: fs.readFileSync(process.env.TLS_CERT),
}, (req, res) => {
  const key = req.url.slice(1);
  console.error('req=' + key + ' arrival');
  setTimeout(() => {
    console.error('req=' + key + ' done');
    res.end(key);
  }, 5);
});
srv.listen(0, '127.0.0.1', () => console.log('listening ' + srv.address().port));
