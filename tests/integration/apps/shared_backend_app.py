"""t_shared_backend's app: a threaded HTTP/1.1 server (keep-alive) that
calls two backends on sockets opened at start-up, in no request, and
shared by every request: a TCP connection (one line per call, the
replies in order: pipelined) and an unconnected UDP socket (one
datagram per call). A reader thread per socket, started with the
program, reads each reply and wakes the handler waiting for it; it logs
"site=tcp_reply id=<id>" / "site=udp_reply id=<id>" (the ID the reply
itself names). GET /<tag>/<id> logs "site=handle id=<id>", calls both,
then "site=done id=<id>", and answers.

argv: TCP_PORT UDP_PORT of the backends. Prints "listening <port>".
"""
import socket
import sys
import threading

from app_serve import serve_threaded


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


TCP_PORT, UDP_PORT = int(sys.argv[1]), int(sys.argv[2])
tcp = socket.create_connection(("127.0.0.1", TCP_PORT))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
waiting = {}
lock = threading.Lock()


def wake(key):
    with lock:
        ev = waiting.pop(key, None)
    if ev is not None:
        ev.set()


def tcp_reader():
    for line in tcp.makefile("rb"):
        rid = line.split()[0].decode()
        log("tcp_reply", rid)
        wake(("tcp", rid))


def udp_reader():
    while True:
        data, _ = udp.recvfrom(2048)
        rid = data.split()[0].decode()
        log("udp_reply", rid)
        wake(("udp", rid))


def call(kind, rid):
    ev = threading.Event()
    with lock:
        waiting[(kind, rid)] = ev
        if kind == "tcp":
            tcp.sendall(("%s\n" % rid).encode())
        else:
            udp.sendto(rid.encode(), ("127.0.0.1", UDP_PORT))
    ev.wait(5)


def work(rid):
    log("handle", rid)
    call("tcp", rid)
    call("udp", rid)
    log("done", rid)


threading.Thread(target=tcp_reader, daemon=True).start()
threading.Thread(target=udp_reader, daemon=True).start()
serve_threaded(work)
