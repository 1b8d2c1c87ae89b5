"""A server that runs helpers inside its requests and captures their stderr
(tests/integration/t_captured): the parent forks, the child points its fd 2
at a socketpair or a pipe the parent reads, then execs sh. What the parent
reads is the helper's data and must be its bytes exactly. Answers with the
repr of the captured bytes; logs "req=<path> ..." lines of its own."""
import http.server
import os
import socket

from app_serve import repr_handler


def capture(cmd, kind):
    if kind == "socket":
        a, b = socket.socketpair()
        r, w = a.fileno(), b.fileno()
    else:
        r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 2)
        os.execvp("sh", ["sh", "-c", cmd])
    if kind == "socket":
        b.close()
    else:
        os.close(w)
    out = b""
    while True:
        d = os.read(r, 1000)
        if not d:
            break
        out += d
    if kind == "socket":
        a.close()
    else:
        os.close(r)
    os.waitpid(pid, 0)
    return out


H = repr_handler(lambda path: (capture("echo helper one >&2", "socket"),
                                capture("echo helper two >&2", "pipe")), "captured")


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening", srv.server_address[1], flush=True)
srv.serve_forever()
