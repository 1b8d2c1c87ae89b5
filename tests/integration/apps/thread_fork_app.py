"""t_thread_fork's app: a raw accept loop in the main thread that starts a
threading.Thread per connection; the thread reads its connection's
requests (keep-alive) and, for each GET /<tag>/<id>, logs
"site=before id=<id>", forks a child that exits at once, logs
"site=after id=<id>", waits for the child, logs "site=waited id=<id>"
and answers. Prints "listening <port>" on stdout."""
import os
import socket
import sys
import threading


def handle(conn):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                d = conn.recv(4096)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            rid = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
            keep = b"connection: close" not in head.lower()
            sys.stderr.write("site=before id=%s\n" % rid)
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            sys.stderr.write("site=after id=%s\n" % rid)
            os.waitpid(pid, 0)
            sys.stderr.write("site=waited id=%s\n" % rid)
            body = b"ok %s\n" % rid.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
                         % (len(body), b"" if keep else b"Connection: close\r\n", body))
            if not keep:
                return


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print("listening", srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
