"""The handler of the threaded http.server apps that call the leaf service
(pooled_app.py, pyqueue_app.py): GET /<tag>/<id> logs "site=arrival
id=<id>", calls GET /leaf/<id> through the app's `call`, logs
"site=called id=<id>" and answers "ok"."""
import http.server
import sys


def handler(call):
    """A request handler class whose requests call the leaf with `call`."""
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            rid = self.path.split("/")[2]
            sys.stderr.write("site=arrival id=%s\n" % rid)
            call("/leaf/" + rid)
            sys.stderr.write("site=called id=%s\n" % rid)
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    return H
