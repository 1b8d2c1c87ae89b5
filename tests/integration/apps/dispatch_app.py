"""t_dispatch's asyncio app: a dispatcher task made at start-up takes each
job from `jobs` and makes a task for it, writing nothing itself. The job's
task logs "site=run id=<id>", sleeps 1 ms, logs "site=ran id=<id>" and
answers the job's handler. The handler (GET /<tag>/<id>: "site=handle
id=<id>") waits for its job and logs "site=reply id=<id>" once its answer
is written. Prints "listening <port>"; serves until SIGTERM."""
import asyncio
import sys

from app_serve import serve_asyncio


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


async def run(rid, fut):
    log("run", rid)
    await asyncio.sleep(0.001)
    log("ran", rid)
    fut.set_result(None)


async def dispatcher(jobs):
    while True:
        rid, fut = await jobs.get()
        asyncio.create_task(run(rid, fut))


async def main():
    jobs = asyncio.Queue()
    asyncio.create_task(dispatcher(jobs))

    async def work(rid):
        log("handle", rid)
        fut = asyncio.get_running_loop().create_future()
        jobs.put_nowait((rid, fut))
        await fut
        return lambda: log("reply", rid)

    await serve_asyncio(work)


asyncio.run(main())
