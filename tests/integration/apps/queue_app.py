"""tests/integration/t_bridge_queues: an aiohttp server whose requests hand
work to asyncio.Queue consumers. GET /<tag>/<id> logs on arrival, then:
- puts a job on the queue of a worker the app starts with itself (outside
  any request), which logs it ("site=startup_job");
- puts a job on the queue of a worker the first request starts (inside
  that request), which logs it ("site=lazy_job");
- waits on a queue of its own that a ticker (started with the app) feeds
  every 2 ms, and logs after the tick ("site=tick");
- runs a job in a ProcessPoolExecutor made with the app, whose worker
  processes start when the first jobs come, which logs in the worker
  ("site=proc_job");
- checks an object out of a pool (an asyncio.Queue filled at start-up),
  logs ("site=pooled") and checks it back in; a task started with the app
  borrows from the same pool every 2 ms and logs ("site=bg id=bg-<n>": it
  serves no request);
and answers when all are done. Every line names its request's id."""
import asyncio
import sys
from concurrent.futures import ProcessPoolExecutor

from aiohttp import web


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


def proc_job(rid):
    log("proc_job", rid)


async def worker(queue, site):
    while True:
        rid, done = await queue.get()
        await asyncio.sleep(0)
        log(site, rid)
        done.set_result(None)


async def ticker(app):
    while True:
        await asyncio.sleep(0.002)
        for q in list(app["tickers"]):
            q.put_nowait("tick")


async def borrower(pool):
    n = 0
    while True:
        obj = await pool.get()
        n += 1
        log("bg", "bg-%d" % n)
        await asyncio.sleep(0.001)
        pool.put_nowait(obj)
        await asyncio.sleep(0.002)


async def handle(request):
    app = request.app
    rid = request.match_info["id"]
    log("arrival", rid)
    if app["lazy"] is None:
        app["lazy"] = asyncio.Queue()
        app["lazy_task"] = asyncio.create_task(worker(app["lazy"], "lazy_job"))
    loop = asyncio.get_running_loop()
    done = [loop.create_future(), loop.create_future()]
    await app["jobs"].put((rid, done[0]))
    await app["lazy"].put((rid, done[1]))
    mine = asyncio.Queue()
    app["tickers"].add(mine)
    await mine.get()
    app["tickers"].discard(mine)
    log("tick", rid)
    await asyncio.gather(*done)
    await loop.run_in_executor(app["pool"], proc_job, rid)
    obj = await app["objects"].get()
    await asyncio.sleep(0)
    log("pooled", rid)
    app["objects"].put_nowait(obj)
    return web.Response(text="ok " + rid)


async def main():
    app = web.Application()
    app["jobs"], app["lazy"], app["tickers"] = asyncio.Queue(), None, set()
    app["pool"] = ProcessPoolExecutor(max_workers=2)
    app["objects"] = asyncio.Queue()
    for _ in range(2):
        app["objects"].put_nowait(object())
    app.router.add_get("/{tag}/{id}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    tasks = [asyncio.create_task(worker(app["jobs"], "startup_job")),
             asyncio.create_task(ticker(app)), asyncio.create_task(borrower(app["objects"]))]
    sys.stdout.write("listening %d\n" % site._server.sockets[0].getsockname()[1])
    sys.stdout.flush()
    await asyncio.Event().wait()
    del tasks

if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    asyncio.run(main())
