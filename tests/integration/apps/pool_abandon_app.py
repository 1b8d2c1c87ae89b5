"""t_shared_backend's pool app: a threaded HTTP/1.1 server (keep-alive)
whose handlers call a backend over a pool of keep-alive TCP connections.
A handler checks a connection out, reads whatever is left on it without
waiting ("site=checked id=<id>"), sends "<id>\\n" (every fifth request
"<id> slow\\n", which the backend answers after 30 ms) and waits 20 ms
at most for the reply line; if it gave up it does 50 ms of other work,
in which the reply arrives ("site=called id=<id>"); then it puts the
connection back, the reply unread if it gave up, and answers
("site=done id=<id>"). The next user of that connection reads that
reply as a stale leftover.

argv: the backend's TCP port. Prints "listening <port>".
"""
import itertools
import select
import socket
import sys
import threading
import time

from app_serve import serve_threaded


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


PORT = int(sys.argv[1])
pool = []
lock = threading.Lock()
count = itertools.count()


def checkout():
    with lock:
        if pool:
            return pool.pop()
    return socket.create_connection(("127.0.0.1", PORT))


def call(rid):
    c = checkout()
    c.setblocking(False)
    try:
        while c.recv(4096):
            pass
    except BlockingIOError:
        pass
    c.setblocking(True)
    log("checked", rid)
    slow = next(count) % 5 == 4
    c.sendall(("%s%s\n" % (rid, " slow" if slow else "")).encode())
    if select.select([c], [], [], 0.02)[0]:
        c.recv(4096)
    else:
        time.sleep(0.05)         # other work: its reply arrives meanwhile
    log("called", rid)
    with lock:
        pool.append(c)


def work(rid):
    call(rid)
    log("done", rid)


serve_threaded(work)
