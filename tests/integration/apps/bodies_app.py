"""Request bodies on keep-alive connections (tests/integration/t_bodies):
a threaded http.server, and a raw server that peeks at each request
before it reads it. Every line names the request it is about ("req=KEY")
and the client sends X-Request-Id: id-KEY.

  POST /e<k>  answers 413 before it reads the body, then reads (drains) it
  POST /c<k>  the same with a chunked body
  POST /l<k>  answers 413 with Connection: close, then reads what comes
              until the client closes (a lingering close)
  POST /b<k>  reads its body in pieces, then answers
  GET  /g<k>  answers at once
Prints "listening <port> <peek port>" when both listen."""
import http.server
import socket
import socketserver
import sys
import threading


def log(key, what):
    sys.stderr.write("req=%s %s\n" % (key, what))
    sys.stderr.flush()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.wfile.flush()

    def chunked(self, key):
        log(key, "arrival")
        self.answer(413)
        log(key, "answered early")
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            self.rfile.read(size + 2)
            if size == 0:
                break
        log(key, "body read")

    def linger(self, key):
        """Answers 413 with Connection: close, then reads what the client
        still sends until it closes (a lingering close), as nginx does."""
        log(key, "arrival")
        self.send_response(413)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        n = 0
        self.connection.settimeout(5)
        try:
            while True:
                b = self.connection.recv(65536)
                if not b:
                    break
                n += len(b)
        except OSError:
            pass
        log(key, "lingered")

    def do_POST(self):
        key = self.path.strip("/")
        if key.startswith("l"):
            return self.linger(key)
        if self.headers["Transfer-Encoding"] == "chunked":
            return self.chunked(key)
        left = int(self.headers["Content-Length"])
        log(key, "arrival")
        if key.startswith("e"):
            self.answer(413)
            log(key, "answered early")
        while left > 0:
            b = self.rfile.read1(min(65536, left))
            if not b:
                break
            left -= len(b)
        log(key, "body read")
        if not key.startswith("e"):
            self.answer(200)
        log(key, "done")

    def do_GET(self):
        key = self.path.strip("/")
        log(key, "arrival")
        self.answer(200)
        log(key, "done")


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def peek_conn(c):
    """Looks at each request with MSG_PEEK before reading it (as servers
    that tell TLS from plain text on one port do)."""
    with c:
        while True:
            p = c.recv(4096, socket.MSG_PEEK)
            if not p:
                return
            if b"\r\n\r\n" not in p:
                continue
            d = c.recv(p.index(b"\r\n\r\n") + 4)
            key = d.split(b" ")[1].decode().strip("/")
            log(key, "arrival")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            log(key, "done")


def peek_server(ls):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=peek_conn, args=(c,), daemon=True).start()


srv = S(("127.0.0.1", 0), H)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
threading.Thread(target=peek_server, args=(ls,), daemon=True).start()
print("listening %d %d" % (srv.server_address[1], ls.getsockname()[1]), flush=True)
srv.serve_forever()
