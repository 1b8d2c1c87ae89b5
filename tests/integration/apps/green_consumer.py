"""A server for t_rt_green whose requests are answered by one consumer
that serves them all: each connection's handler reads the request head,
logs, and hands the connection to the consumer through a queue; the
consumer logs as it takes each one (the item may be there already: no wait
between the request it answered last and this one) and answers it. Lines:
"site=<site> id=<the id in the query string>": arrival (the handler),
consumer (right after the consumer's get), end (the handler, once
answered).
  python3 green_consumer.py PORT gevent    handler and consumer greenlets, gevent.queue.Queue
  python3 green_consumer.py PORT threads   socketserver threads, a queue.Queue, a consumer thread
  python3 green_consumer.py PORT late      gevent, and the consumer reads the request's body
                                           (sent after its head) and hands back; the handler answers
                                           20 ms later, so the request the consumer read last is
                                           still being served when it takes the next
"""
import sys

MODE = sys.argv[2]
if MODE in ("gevent", "late"):
    from gevent import monkey
    monkey.patch_all()
    import gevent
    import gevent.event
    import gevent.queue
    from gevent.server import StreamServer
    jobs = gevent.queue.Queue()
    Event = gevent.event.Event
else:
    import queue
    import socketserver
    import threading
    jobs = queue.Queue()
    Event = threading.Event


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


def answer(sock, rid):
    body = ("ok %s\n" % rid).encode()
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def consumer():
    while True:
        rid, sock, done = jobs.get()
        log("consumer", rid)
        if MODE == "late":
            body = b""
            while len(body) < 2:
                got = sock.recv(2 - len(body))
                if not got:
                    break
                body += got
        else:
            answer(sock, rid)
        done.set()


def handle(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(4096)
        if not got:
            return
        head += got
    target = head.split(b" ", 2)[1].decode()
    rid = target.split("id=", 1)[1].split("&")[0] if "id=" in target else "-"
    log("arrival", rid)
    done = Event()
    jobs.put((rid, sock, done))
    done.wait()
    if MODE == "late":
        gevent.sleep(0.02)
        answer(sock, rid)
    log("end", rid)


if MODE in ("gevent", "late"):
    gevent.spawn(consumer)
    StreamServer(("127.0.0.1", int(sys.argv[1])), lambda sock, addr: handle(sock)).serve_forever()
else:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            handle(self.request)

    threading.Thread(target=consumer, daemon=True).start()
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
