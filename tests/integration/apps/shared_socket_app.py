"""tests/integration/t_shared_socket: a threaded http.server whose first
request opens two sockets every later request uses and nobody answers: a
connected UDP socket (a statsd client's) and a TCP connection to a log
sink. GET /<tag>/<id> logs "site=arrival id=<id>", then starts a thread
that waits a little (the request is answered meanwhile: the thread
sleeps once after another request began) and sends on both, logging
"site=after_send id=<id>"; it joins that thread and answers. A thread
started with the program sends on both every 10 ms, once the first
request was answered, and logs "site=flush id=bg-<n>" (no request's). Prints "listening <port>"."""
import socket
import threading
import time

from threaded_app import Handler, log, serve

sink = socket.socket()
sink.bind(("127.0.0.1", 0))
sink.listen(1)
stats = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
stats.bind(("127.0.0.1", 0))
shared = {}
opened = threading.Lock()


def drain():
    c, _ = sink.accept()
    while c.recv(65536):
        pass


def drain_stats():
    while True:
        stats.recv(65536)


def send_both(what):
    shared["udp"].send(what)
    shared["tcp"].sendall(what)


# Set once the request that opened the sockets was answered: before it,
# a first write with none on a connection a request made takes that
# request (a client library's worker sending its caller's call,
# docs/design.md), and the flusher's first send could land in that
# window (an ASan run: 1 of 71 flush lines).
answered = threading.Event()


def flush():
    n = 0
    while True:
        time.sleep(0.01)
        if shared and answered.is_set():
            send_both(b"flush\n")
            n += 1
            log("flush", "bg-%d" % n)


def later(rid):
    time.sleep(0.02)
    send_both(b"%s\n" % rid.encode())
    log("after_send", rid)


class H(Handler):
    def do_GET(self):
        rid = self.request_id()
        log("arrival", rid)
        with opened:
            if not shared:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.connect(stats.getsockname())
                shared["tcp"] = socket.create_connection(sink.getsockname())
                shared["udp"] = u
        t = threading.Thread(target=later, args=(rid,))
        t.start()
        self.answer_ok()
        answered.set()
        t.join()


for f in (drain, drain_stats, flush):
    threading.Thread(target=f, daemon=True).start()
serve(H)
