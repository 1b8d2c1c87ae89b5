"""t_finalizers' asyncio app: each request (GET /<tag>/<id>) logs
"site=handle id=<id>", runs gc.collect(), then leaves garbage of its own
for a later request's collection: an object in a reference cycle whose
__del__ logs "site=final id=<id>", and an async generator, started and
left in a cycle, whose finally logs "site=closed id=<id>" (asyncio's
finalizer hook closes it in a task). "site=reply id=<id>" after the
answer. At SIGTERM the app collects once more (the last requests'
garbage, in no request) and exits. With argv[1] "threads": a threaded
http.server (a thread per connection), its handler logging "handle",
collecting, leaving a Resource in a cycle and logging "reply" (no
generator). Prints "listening <port>"."""
import asyncio
import gc
import sys

from app_serve import serve_asyncio, serve_threaded


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


class Resource:
    def __init__(self, rid):
        self.rid = rid
        self.me = self

    def __del__(self):
        log("final", self.rid)


async def stream(rid):
    try:
        yield 1
        yield 2
    finally:
        log("closed", rid)


async def main():
    async def work(rid):
        log("handle", rid)
        gc.collect()
        Resource(rid)
        g = stream(rid)
        await g.__anext__()
        cycle = [g]
        cycle.append(cycle)
        return lambda: log("reply", rid)

    await serve_asyncio(work)
    gc.collect()
    await asyncio.sleep(0.1)


def work_threaded(rid):
    log("handle", rid)
    gc.collect()
    Resource(rid)
    log("reply", rid)


gc.disable()            # collections where the app asks for them
if sys.argv[1:] == ["threads"]:
    import signal

    def last(*_):
        gc.collect()        # the last request's garbage, in no request
        sys.exit(0)
    signal.signal(signal.SIGTERM, last)
    serve_threaded(work_threaded)
else:
    asyncio.run(main())
