"""tests/integration/t_sleepers: threads a request starts that sleep and
then write about work other requests may have queued (threaded
http.server, keep-alive).

GET /<tag>/<id> logs "site=arrival id=<id>", starts a thread of its own
that sleeps 0.03 s and then writes one line per id it takes from a list
every request fills ("site=flush id=<id>": any request's, not only its
starter's), puts <id> in that list, sleeps 0.06 s (its own handler's
wait) and answers.

GET /lead/<id> (one at a time, nothing else in progress) starts a thread
that sleeps 0.03 s, then, without sleeping or waiting again, spins until
the list holds an id (at most 3 s) and writes "site=window id=<id>" for
each; the request answers 0.4 s after it started the thread (it does
not join it: a thread its request joins is that request's whatever it
writes). GET /feed/<id>
puts <id> in the list and answers.
GET /joinpipe/<id> writes <id> to a pipe every such request writes to,
starts a helper and joins it: the helper reads one id from the pipe
(any request's), sleeps 0.01 s and writes "site=joinpipe id=<that id>".
Prints "listening <port>" on stdout."""
import collections
import os
import threading
import time
from threaded_app import Handler, log, serve

shared = collections.deque()
window = collections.deque()
pipe_r, pipe_w = os.pipe()
TOKEN = 64                  # one id per write and per read, padded


def pipe_helper():
    rid = os.read(pipe_r, TOKEN).decode().strip()
    time.sleep(0.01)
    log("joinpipe", rid)


def flusher():
    time.sleep(0.03)
    while shared:
        log("flush", shared.popleft())


def spinner():
    time.sleep(0.03)
    end = time.monotonic() + 3
    while not window and time.monotonic() < end:
        pass
    while window:
        log("window", window.popleft())


class H(Handler):
    def do_GET(self):
        kind, rid = self.path.split("/")[1], self.request_id()
        log("arrival", rid)
        if kind == "lead":
            threading.Thread(target=spinner, daemon=True).start()
            time.sleep(0.4)
        elif kind == "feed":
            window.append(rid)
        elif kind == "joinpipe":
            os.write(pipe_w, rid.ljust(TOKEN).encode())
            t = threading.Thread(target=pipe_helper)
            t.start()
            t.join()
        else:
            threading.Thread(target=flusher, daemon=True).start()
            shared.append(rid)
            time.sleep(0.06)
        self.answer_ok()


serve(H)
