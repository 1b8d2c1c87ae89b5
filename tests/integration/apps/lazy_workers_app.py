"""tests/integration/t_lazy_workers: a threaded http.server whose first
request starts three worker threads, each taking every later request's
jobs from somewhere the bridge does not see: an os.pipe read through a
file, a socketpair, a queue.SimpleQueue. queue is imported before
threading (the bridge must patch it once it is whole). GET /<tag>/<id>
logs "site=arrival id=<id>", runs a thread of its own that logs
"site=oneshot id=<id>" (a thread started inside the request: its
request's) and one that sleeps first, "site=joined id=<id>" (the request
joins it: its request's, though others began meanwhile), hands <id> to each worker ("site=pipe_job", "site=sock_job",
"site=sq_job", and "site=lock_job": a worker that sleeps on a
threading.Lock each request releases, and takes the ids queued in a
list; busy for its first 0.2 s, so that some releases find it working
and its next acquire takes the lock without sleeping; "site=sleep_job",
"site=select_job" and "site=poll_job": flushers that poll a deque of their
own, sleeping with time.sleep, with select.select on no files, with a
poll object that holds none, and with select.select on a socket nobody
writes, "site=selfd_job") and answers. The request that starts the
workers is a long poll: it answers 0.5 s after the others began (so the
flushers it started run while it is still being served, for other
requests). It also logs "site=memlog id=<id>" through
logging.handlers.MemoryHandler (capacity 4: the request whose record
fills it writes four requests' records) and "site=qlog id=<id>" through a
QueueHandler whose QueueListener thread writes them. A ThreadPoolExecutor's worker, which
the first request starts, runs each request's "exec_job" and, submitted
from a thread of the app's own (no request), "bgpipe_job" (reads the ID
from a pipe) and "bgplain_job" (the app's own work: "bg-<id>"); two
dispatcher loops the first request submits to another executor log each
request's item: "exec_cv" (waits on a Condition), "exec_poll" (polls
with time.sleep); each request's job that sleeps before it logs, its
result awaited: "exec_retry". Prints
"listening <port>"."""
import queue  # noqa: I001 - first on purpose
import logging
import logging.handlers
import os
import select
import socket
import sys
import threading
import time
from threaded_app import Handler, log, serve

pipe_r, pipe_w = os.pipe()
sock_a, sock_b = socket.socketpair()
jobs = queue.SimpleQueue()
started = []
lock = threading.Lock()
lock_items = []
lock_wake = threading.Lock()
lock_wake.acquire()
import collections  # noqa: E402
pending = collections.deque()
select_pending = collections.deque()
poll_pending = collections.deque()
selfd_pending = collections.deque()

memlog = logging.getLogger("memlog")
memlog.propagate = False
memlog.setLevel(logging.INFO)
memlog.addHandler(logging.handlers.MemoryHandler(4, flushLevel=logging.CRITICAL,
                                                 target=logging.StreamHandler(sys.stderr)))
qlog = logging.getLogger("qlog")
qlog.propagate = False
qlog.setLevel(logging.INFO)
records = queue.Queue()
qlog.addHandler(logging.handlers.QueueHandler(records))
listener = logging.handlers.QueueListener(records, logging.StreamHandler(sys.stderr))
listener.start()


def pipe_worker():
    for line in os.fdopen(pipe_r):
        log("pipe_job", line.strip())


def sock_worker():
    for line in sock_b.makefile("r"):
        log("sock_job", line.strip())


def sq_worker():
    while True:
        log("sq_job", jobs.get())


def lock_worker():
    time.sleep(0.2)     # busy at first: later requests release the lock meanwhile
    while True:
        lock_wake.acquire()
        with lock:
            rids = lock_items[:]
            del lock_items[:]
        for rid in rids:
            time.sleep(0.001)
            log("lock_job", rid)


def sleep_worker():
    while True:
        time.sleep(0.05)
        while pending:
            log("sleep_job", pending.popleft())


def select_worker():
    while True:
        select.select([], [], [], 0.05)
        while select_pending:
            log("select_job", select_pending.popleft())


def selfd_worker():
    idle_a, idle_b = socket.socketpair()
    while True:
        select.select([idle_a], [], [], 0.05)     # times out: nobody writes
        while selfd_pending:
            log("selfd_job", selfd_pending.popleft())


def poll_worker():
    idle = select.poll()
    while True:
        idle.poll(50)
        while poll_pending:
            log("poll_job", poll_pending.popleft())


# A ThreadPoolExecutor whose worker the first request starts (its
# "exec_job" lines: each request's job, its result awaited), fed from
# outside any request too: a thread of the program's own submits, for
# each request, a job that reads its ID from a pipe the handler wrote
# ("bgpipe_job": the pipe's hand-off, or none) and then one of its own
# ("bgplain_job", ID "bg-<id>": the app's background work, no request's).
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
exec_pool = ThreadPoolExecutor(1)
bg_r, bg_w = os.pipe()
bg_pending = collections.deque()


def bgpipe():
    log("bgpipe_job", os.read(bg_r, 32).decode().strip())     # one record


def bg_submitter():
    while True:
        time.sleep(0.003)
        while bg_pending:
            rid = bg_pending.popleft()
            exec_pool.submit(bgpipe)
            exec_pool.submit(log, "bgplain_job", "bg-" + rid)


threading.Thread(target=bg_submitter, daemon=True).start()

# Two dispatcher loops the first request submits to an executor, which
# serve every later request's item: one waits on a threading.Condition
# ("exec_cv"), one polls with time.sleep ("exec_poll"). Jobs of their
# submitter's request until they wait for work from elsewhere.
loop_pool = ThreadPoolExecutor(2)
cv = threading.Condition()
cv_items = collections.deque()
poll_items = collections.deque()


def retry_job(rid):
    time.sleep(0.01)        # a backoff, while other requests are served
    log("exec_retry", rid)


def cv_loop():
    while True:
        with cv:
            while not cv_items:
                cv.wait()
            rid = cv_items.popleft()
        log("exec_cv", rid)


def poll_loop():
    while True:
        while not poll_items:
            time.sleep(0.002)
        log("exec_poll", poll_items.popleft())


def napped(rid):
    # A retry's backoff, while others are served; long enough that the
    # request is in its join when it ends, even on a loaded machine.
    time.sleep(0.05)
    log("joined", rid)


def lock_hand(rid):
    with lock:
        lock_items.append(rid)
    try:
        lock_wake.release()
    except RuntimeError:       # already released: the worker will see it
        pass


class H(Handler):
    def do_GET(self):
        rid = self.request_id()
        log("arrival", rid)
        # Handed to the lock worker first: the first request releases the
        # lock before it starts the worker, as a job queued before its
        # worker exists.
        lock_hand(rid)
        first = False
        with lock:
            if not started:
                for w in (pipe_worker, sock_worker, sq_worker, lock_worker, sleep_worker,
                          select_worker, poll_worker, selfd_worker):
                    threading.Thread(target=w, daemon=True).start()
                loop_pool.submit(cv_loop)
                loop_pool.submit(poll_loop)
                started.append(True)
                first = True
        t = threading.Thread(target=log, args=("oneshot", rid))
        t.start()
        t.join()
        t = threading.Thread(target=napped, args=(rid,))
        t.start()
        t.join()
        os.write(pipe_w, (rid + "\n").encode())
        sock_a.sendall((rid + "\n").encode())
        jobs.put(rid)
        pending.append(rid)
        select_pending.append(rid)
        poll_pending.append(rid)
        selfd_pending.append(rid)
        exec_pool.submit(log, "exec_job", rid).result()
        exec_pool.submit(retry_job, rid).result()
        with cv:
            cv_items.append(rid)
            cv.notify()
        poll_items.append(rid)
        os.write(bg_w, rid.ljust(32).encode())
        bg_pending.append(rid)
        memlog.info("site=memlog id=%s", rid)
        qlog.info("site=qlog id=%s", rid)
        if first:
            time.sleep(0.5)     # a long poll: its flushers work for others meanwhile
        self.answer_ok()


serve(H)
