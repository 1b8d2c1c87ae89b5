"""A threaded http.server (a thread per connection) whose sys.stderr sits on
one io.BufferedWriter that every thread writes and any thread may write
out, for t_python_buffers. APP_STREAM chooses it:
  line   line-buffered, as uWSGI sets up sys.stderr (open(2, "w",
         buffering=1)): print(..., flush=True) and logging's handler flush
         write lines other threads put into the buffer meanwhile
  block  block-buffered (8 KiB, as sys.stdout is when it is not a
         terminal), written out every 50 ms by a thread of its own that
         serves no request, and when full by whichever thread fills it
Every request writes, at arrival and at its end, 3 lines with
sys.stderr.write ("via=write0".."via=write2"), 3 with print ("via=print0"..)
and one through logging ("via=log"), each "site=<arrival|end> id=<the id
in the query string>", with no lock of the app's.
"""
import http.server
import io
import logging
import os
import signal
import socketserver
import sys
import threading
import time
import urllib.parse

MODE = os.environ.get("APP_STREAM", "line")
sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                              line_buffering=(MODE == "line"))
if MODE == "block":
    def flusher():
        while True:
            time.sleep(0.05)
            sys.stderr.flush()
    threading.Thread(target=flusher, daemon=True).start()
# SIGTERM ends the process through Python, which writes the buffer out.
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

LOG = logging.getLogger("buffers_app")
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(message)s"))
LOG.addHandler(_handler)
LOG.setLevel(logging.INFO)
LOG.propagate = False


def log(site, rid):
    for k in range(3):
        sys.stderr.write("site=%s id=%s via=write%d\n" % (site, rid, k))
        print("site=%s id=%s via=print%d" % (site, rid, k), file=sys.stderr,
              flush=(MODE == "line"))
    LOG.info("site=%s id=%s via=log", site, rid)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        rid = q.get("id", ["-"])[0]
        log("arrival", rid)
        time.sleep(0.002)
        log("end", rid)
        body = ("ok %s\n" % rid).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
