"""t_exec_jobs' app: an asyncio HTTP/1.1 server (app_serve.serve_asyncio,
keep-alive) whose requests give work to a ThreadPoolExecutor. GET
/<tag>/<id> logs "site=arrival id=<id>", awaits a job that sleeps (a
retry's backoff) and logs "site=retry id=<id>", hands <id> to a queue
worker task started with the program that logs "site=wtook id=<id>" and
awaits such a job for it ("site=wretry"), awaits a job that starts
and joins a thread and logs "site=tstart id=<id>" after it, and hands
<id> to a dispatcher loop the first request started with run_in_executor
and never awaits (a done callback watches it): it polls a deque with
time.sleep and logs
"site=apoll id=<id>" for each; the same loop watched by a supervisor
task that awaits it for as long as it runs ("site=asup"), given the
other requests' ids only once the first request is answered; and a thread
whose run is a read-only property logs "site=prop id=<id>". Prints "listening <port>"."""
import asyncio
import collections
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from app_serve import serve_asyncio


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


items = collections.deque()
pool = ThreadPoolExecutor(8)
started = []


def retry(rid):
    time.sleep(0.1)          # past the loop thread's await of its future, under load too (0.02 left
                             # one of 48 lines bare once, under CI load)
    log("retry", rid)


def tstart(rid):
    t = threading.Thread(target=time.sleep, args=(0.001,))
    t.start()
    t.join()
    log("tstart", rid)


class Prop(threading.Thread):
    """A thread whose run is a read-only property (the bridge must not
    break its start)."""
    def __init__(self, rid):
        super().__init__()
        self.rid = rid

    @property
    def run(self):
        return lambda: log("prop", self.rid)


sup_items = collections.deque()


async def supervise(fut):
    try:
        await fut           # for as long as the loop runs
    except Exception:       # noqa: BLE001 - a supervisor's report
        log("crashed", "-")


def poll_loop(queue=items, site="apoll"):
    while True:
        while not queue:
            time.sleep(0.002)
        log(site, queue.popleft())


first_answered = asyncio.Event()
MARGIN = 0.02        # ten of the loop's polls: it sleeps past the answer first


async def work(rid):
    loop = asyncio.get_running_loop()
    log("arrival", rid)
    first = not started
    if first:
        loop_done = loop.run_in_executor(pool, poll_loop)       # never awaited,
        loop_done.add_done_callback(started.remove)             # but watched
        started.append(loop_done)
        started.append(asyncio.ensure_future(supervise(loop.run_in_executor(pool, poll_loop, sup_items, "asup"))))
    await loop.run_in_executor(pool, retry, rid)
    done = loop.create_future()
    jobs.put_nowait((rid, done))
    await done
    await loop.run_in_executor(pool, tstart, rid)
    items.append(rid)
    if not first:
        # The supervised loop counts as awaited while the first request is
        # in progress, and carries its ID on whatever it takes then (a
        # documented limit, README): the others' ids reach it after that
        # request's answer (before, 1 run in 10 had 1 line wrong).
        await first_answered.wait()
        await asyncio.sleep(max(0.0, answered_at[0] + MARGIN - loop.time()))
    sup_items.append(rid)
    t = Prop(rid)
    t.start()
    t.join()
    if first:
        return answered


answered_at = [0.0]


def answered():
    answered_at[0] = asyncio.get_running_loop().time()
    first_answered.set()


jobs = None


def wretry(rid):
    time.sleep(0.002)        # past the worker's await of its future
    log("wretry", rid)


async def worker():
    """A consumer task started with the program: it takes each request's
    item, logs, and awaits an executor job for it, which sleeps, then
    logs."""
    loop = asyncio.get_running_loop()
    while True:
        rid, done = await jobs.get()
        log("wtook", rid)
        await loop.run_in_executor(pool, wretry, rid)
        done.set_result(None)


async def main():
    global jobs
    jobs = asyncio.Queue()
    asyncio.get_running_loop().create_task(worker())    # before any request
    await serve_asyncio(work)


asyncio.run(main())
sys.stderr.flush()
os._exit(0)         # the poll loop's worker never ends: no join at exit
