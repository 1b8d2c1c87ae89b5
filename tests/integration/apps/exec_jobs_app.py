"""t_exec_jobs' app: an asyncio HTTP/1.1 server (app_serve.serve_asyncio,
keep-alive) whose requests give work to a ThreadPoolExecutor. GET
/<tag>/<id> logs "site=arrival id=<id>", awaits a job that sleeps (a
retry's backoff) and logs "site=retry id=<id>", awaits a job that starts
and joins a thread and logs "site=tstart id=<id>" after it, and hands
<id> to a dispatcher loop the first request started with run_in_executor
and never awaits (a done callback watches it): it polls a deque with
time.sleep and logs
"site=apoll id=<id>" for each. Prints "listening <port>"."""
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
    time.sleep(0.005)
    log("retry", rid)


def tstart(rid):
    t = threading.Thread(target=time.sleep, args=(0.001,))
    t.start()
    t.join()
    log("tstart", rid)


def poll_loop():
    while True:
        while not items:
            time.sleep(0.002)
        log("apoll", items.popleft())


async def work(rid):
    loop = asyncio.get_running_loop()
    log("arrival", rid)
    if not started:
        loop_done = loop.run_in_executor(pool, poll_loop)       # never awaited,
        loop_done.add_done_callback(started.remove)             # but watched
        started.append(loop_done)
    await loop.run_in_executor(pool, retry, rid)
    await loop.run_in_executor(pool, tstart, rid)
    items.append(rid)


asyncio.run(serve_asyncio(work))
sys.stderr.flush()
os._exit(0)         # the poll loop's worker never ends: no join at exit
