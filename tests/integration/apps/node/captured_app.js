// A Node server that runs helpers inside its requests and captures their
// stderr through libuv's pipes (tests/integration/t_captured): spawn and
// execFileSync. Answers with the captured bytes as JSON.
'use strict';
const http = require('http');
const { spawn, execFileSync } = require('child_process');

function run(cb) {
  const c = spawn('sh', ['-c', 'echo helper one >&2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let b = '';
  c.stderr.on('data', (d) => { b += d; });
  c.on('close', () => cb(b));
}

const srv = http.createServer((req, res) => {
  console.error('req=' + req.url + ' arrival');
  run((one) => {
    let two;
    try {
      execFileSync('sh', ['-c', 'echo helper two >&2; exit 3'], { stdio: 'pipe' });
    } catch (e) {
      two = String(e.stderr);
    }
    console.error('req=' + req.url + ' captured');
    res.end(JSON.stringify([one, two]));
  });
});
srv.listen(0, '127.0.0.1', () => console.log('listening ' + srv.address().port));
