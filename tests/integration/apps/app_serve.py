"""The HTTP/1.1 serving the Python test apps share: each answers
GET /<tag>/<id> with "ok <id>", keeps the connection unless the request
says "Connection: close", and prints "listening <port>" once ready.

serve_threaded(work): a ThreadingHTTPServer; work(rid) runs in the
request's thread before the answer. Serves for ever.

serve_asyncio(work): asyncio.start_server; `await work(rid)` runs in the
connection's task before the answer and may return a function to call
once the answer is written. Returns on SIGTERM.

repr_handler(run, done): a handler class for http.server that logs
"req=<path> arrival" to stderr, calls run(path), logs "req=<path>
<done>" and answers with the repr of what run returned (the bytes a
server read back from its helpers, for t_captured and t_child_files)."""
import asyncio
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def repr_handler(run, done):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            sys.stderr.write("req=%s arrival\n" % self.path)
            sys.stderr.flush()
            got = run(self.path)
            sys.stderr.write("req=%s %s\n" % (self.path, done))
            sys.stderr.flush()
            body = repr(got).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    return Handler


def serve_threaded(work):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            rid = self.path.rsplit("/", 1)[-1]
            work(rid)
            body = ("ok %s\n" % rid).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if self.headers.get("Connection", "").lower() == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


async def serve_asyncio(work):
    async def handle(r, w):
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                rid = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
                after = await work(rid)
                body = ("ok %s\n" % rid).encode()
                close = b"connection: close" in head.lower()
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" %
                        (len(body), b"Connection: close\r\n" if close else b"") + body)
                await w.drain()
                if after is not None:
                    after()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("listening %d" % srv.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    srv.close()
