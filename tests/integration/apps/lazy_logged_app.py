"""A threaded http.server whose every line goes through Python's logging
(the bridge writes each record in the context it was made in, entering it
around the handler). The first request starts a worker thread, which logs
once as it starts and then sleeps on a threading.Lock each request
releases; it takes the (id, Event) pair queued in a deque, logs
"site=log_job id=<id>" and sets the Event its request waits for (one
job at a time). Each
request logs "site=handler id=<id>" first. Prints "listening <port>"."""
import collections
import logging
import sys
import threading
from threaded_app import Handler, serve

logging.basicConfig(stream=sys.stderr, format="%(message)s", level=logging.INFO)
jobs = collections.deque()
wake = threading.Lock()
wake.acquire()
start_lock = threading.Lock()
hand_lock = threading.Lock()
worker = []


def work():
    logging.info("worker starting")
    while True:
        wake.acquire()
        while jobs:
            rid, done = jobs.popleft()
            logging.info("site=log_job id=%s", rid)
            done.set()


class H(Handler):
    def do_GET(self):
        rid = self.request_id()
        logging.info("site=handler id=%s", rid)
        with start_lock:
            if not worker:
                worker.append(threading.Thread(target=work, daemon=True))
                worker[0].start()
        # One job at a time: a wake-up that finds two jobs queued is the
        # batch whose second job the agent cannot tell from the first
        # (README, limits); the case here is the one it can.
        with hand_lock:
            done = threading.Event()
            jobs.append((rid, done))
            try:
                wake.release()
            except RuntimeError:   # already released: the worker will see it
                pass
            done.wait(2)
        self.answer_ok()


serve(H)
