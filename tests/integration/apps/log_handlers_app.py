"""t_log_handlers' app: an asyncio HTTP/1.1 server (app_serve.serve_asyncio)
whose requests hand a job to an asyncio.Queue taken by two worker tasks
started with the program. Every line goes through Python's logging, by
the handler argv[1] names: "queue" (a QueueHandler, its QueueListener's
thread writes), "memory" (a MemoryHandler of 7 records flushing into a
StreamHandler), "stream" (a StreamHandler) or "filtered" (a
StreamHandler at INFO, the logger at DEBUG, and one worker that takes
an item, makes a debug record and takes a second if there is one before
it logs about each: "site=item id=<id>"). A request logs
"site=arrival id=<id>"; the worker that takes its job logs "site=wstart
id=<id>", awaits a short sleep and logs "site=wend id=<id>". Prints
"listening <port>"."""
import asyncio
import logging
import logging.handlers
import queue
import sys

from app_serve import serve_asyncio

lg = logging.getLogger("app")
lg.setLevel(logging.INFO)
stream = logging.StreamHandler(sys.stderr)
stream.setFormatter(logging.Formatter("%(message)s"))
listener = None
if sys.argv[1] == "queue":
    lq = queue.Queue()
    lg.addHandler(logging.handlers.QueueHandler(lq))
    listener = logging.handlers.QueueListener(lq, stream)
    listener.start()
elif sys.argv[1] == "filtered":
    lg.setLevel(logging.DEBUG)
    stream.setLevel(logging.INFO)       # the debug records reach no handler
    lg.addHandler(stream)
elif sys.argv[1] == "memory":
    lg.addHandler(logging.handlers.MemoryHandler(7, flushLevel=logging.CRITICAL, target=stream))
else:
    lg.addHandler(stream)

jobs = None


async def worker():
    while True:
        rid, done = await jobs.get()
        lg.info("site=wstart id=%s", rid)
        await asyncio.sleep(0.001)
        lg.info("site=wend id=%s", rid)
        done.set_result(None)


async def drainer():
    """Takes an item, makes a debug record no handler takes, takes a
    second if one is there (never waits for it), then logs "site=item
    id=<id>" about each: with two, a batch, no one request's."""
    while True:
        held = [await jobs.get()]
        lg.debug("got id=%s", held[0][0])
        if not jobs.empty():
            held.append(jobs.get_nowait())
        for rid, done in held:
            lg.info("site=item id=%s", rid)
            done.set_result(None)


async def work(rid):
    lg.info("site=arrival id=%s", rid)
    done = asyncio.get_running_loop().create_future()
    jobs.put_nowait((rid, done))
    await done


async def main():
    global jobs
    jobs = asyncio.Queue()
    for _ in range(1 if sys.argv[1] == "filtered" else 2):
        asyncio.get_running_loop().create_task(
            drainer() if sys.argv[1] == "filtered" else worker())    # before any request
    await serve_asyncio(work)


asyncio.run(main())
if listener is not None:
    listener.stop()
logging.shutdown()          # the MemoryHandler's last records
