"""A service of the trace chain (tests/integration/t_trace_chain): an
http.server on Debian's python3 that logs each request it gets (its path
and the trace headers it arrived with) and, given a downstream port, calls
it over one HTTP/1.1 keep-alive connection per thread before answering;
for every third of t_trace_chain's paths (/r/<k>, k a multiple of 3) and
for t_trace_otel's /child/<k> a program it runs makes
that call instead (exec: the same script, "call"), and writes the answer's
body on its stdout.

    python3 trace_svc.py NAME PORTFILE [DOWNSTREAM_PORT]
    python3 trace_svc.py call DOWNSTREAM_PORT PATH
"""
import http.client
import http.server
import json
import subprocess
import sys
import threading

if sys.argv[1] == "call":
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]), timeout=10)
    c.request("GET", sys.argv[3])
    r = c.getresponse()
    sys.stdout.buffer.write(r.read())
    sys.stderr.write("call downstream answered %d for %s\n" % (r.status, sys.argv[3]))
    sys.exit(0 if r.status == 200 else 1)

name, portfile = sys.argv[1], sys.argv[2]
down = int(sys.argv[3]) if len(sys.argv) > 3 else 0
local = threading.local()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        seen = {k: self.headers.get(k) for k in ("traceparent", "X-Request-Id", "baggage")}
        sys.stderr.write("%s got %s %s\n" % (name, self.path, json.dumps(seen, sort_keys=True)))
        body = ("%s %s\n" % (name, self.path)).encode()
        status = 200
        k = int(self.path.rsplit("/", 1)[1]) if self.path.rsplit("/", 1)[1].isdigit() else 1
        if down and (self.path.startswith("/r/") and k % 3 == 0 or self.path.startswith("/child/")):
            r = subprocess.run([sys.executable, __file__, "call", str(down), self.path],
                               stdout=subprocess.PIPE)
            body += r.stdout
            status = 200 if r.returncode == 0 else 502
        elif down:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", down, timeout=10)
            conn.request("GET", self.path)
            r = conn.getresponse()
            body += r.read()
            status = r.status
            sys.stderr.write("%s downstream answered %d for %s\n" % (name, r.status, self.path))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
