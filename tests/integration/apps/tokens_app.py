"""t_tokens' asyncio app: a concurrency limit kept as a queue of tokens.
A dispatcher task made at start-up takes a job from `jobs` (logs
"site=dispatch id=<id>"), then a token from `tokens` (logs
"site=token id=<id>"), and runs the job in a task of its own ("site=run
id=<id>", a 1 ms sleep, "site=ran id=<id>") that hands the token to the job's
handler. The handler (GET /<tag>/<id>: "site=handle id=<id>") waits for
its job, answers ("site=reply id=<id>") and puts the token back.
Prints "listening <port>"; serves until SIGTERM."""
import asyncio
import sys

from app_serve import serve_asyncio


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


async def run(rid, fut, tok):
    log("run", rid)
    await asyncio.sleep(0.001)
    log("ran", rid)
    fut.set_result(tok)


async def dispatcher(jobs, tokens):
    while True:
        rid, fut = await jobs.get()
        log("dispatch", rid)
        tok = await tokens.get()
        log("token", rid)
        asyncio.create_task(run(rid, fut, tok))


async def main():
    jobs, tokens = asyncio.Queue(), asyncio.Queue()
    for t in range(2):
        tokens.put_nowait(t)
    asyncio.create_task(dispatcher(jobs, tokens))

    async def work(rid):
        log("handle", rid)
        fut = asyncio.get_running_loop().create_future()
        jobs.put_nowait((rid, fut))
        tok = await fut

        def answered():
            log("reply", rid)
            tokens.put_nowait(tok)
        return answered

    await serve_asyncio(work)


asyncio.run(main())
