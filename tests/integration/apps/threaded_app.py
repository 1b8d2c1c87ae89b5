"""The parts the threaded http.server apps of tests/integration share
(lazy_workers_app, lazy_logged_app, forked_helpers_app, main_thread_app):
the scored line, the handler's base, the answer and the server's start.
Imports http.server (so threading): an app that must import something
first (lazy_workers_app imports queue before threading) imports this
after it."""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(site, rid):
    """One scored line, "site=<site> id=<rid>", on stderr."""
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), no access log; answer_ok() ends a request."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def request_id(self):
        """The id: the last segment of the path (/<tag>/<id>)."""
        return self.path.rsplit("/", 1)[-1]

    def answer_ok(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")


def serve(handler, server=ThreadingHTTPServer, **serve_kw):
    """Serves on 127.0.0.1, a free port, with daemon threads; prints
    "listening <port>" first."""
    srv = server(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever(**serve_kw)
