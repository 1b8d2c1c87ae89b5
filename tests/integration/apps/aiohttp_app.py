"""A small aiohttp server for t_bridge_aiohttp: GET /<tag>/<id> logs one
stderr line per log-site (through logging), each naming the id: on arrival,
after await asyncio.sleep, inside a run_in_executor job (thread pool), in a
task it creates, and after an upstream request through a pooled
ClientSession. With LEAF_PORT set, each request also calls that service
(another process) with GET /leaf/<id> through the same session, before the
upstream: what the agent propagates there is the test's to check; and a
worker started with the app, outside any request, calls it every 10 ms
with GET /leaf/bg-<n> through that session too, on connections the
requests used last: those calls serve no request."""
import asyncio
import logging
import os
import random
import sys

from aiohttp import ClientSession, web

log = logging.getLogger("app")


def blocking(rid):
    log.info("site=executor id=%s", rid)
    return rid


async def child(rid):
    await asyncio.sleep(0)
    log.info("site=task id=%s", rid)


async def handle(request):
    rid = request.match_info["id"]
    log.info("site=arrival id=%s", rid)
    await asyncio.sleep(random.random() * 0.004)
    log.info("site=sleep id=%s", rid)
    await asyncio.get_running_loop().run_in_executor(None, blocking, rid)
    await asyncio.create_task(child(rid))
    if request.app["leaf"]:
        async with request.app["session"].get(request.app["leaf"] + rid) as r:
            await r.read()
    async with request.app["session"].get(request.app["up"]) as r:
        await r.read()
    log.info("site=upstream id=%s", rid)
    return web.Response(text="ok " + rid)


async def background(app):
    n = 0
    while True:
        await asyncio.sleep(0.01)
        n += 1
        async with app["session"].get(app["leaf"] + "bg-%d" % n) as r:
            await r.read()


async def up(request):
    await asyncio.sleep(0.001)
    return web.Response(text="up")


async def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    app = web.Application()
    app.router.add_get("/up", up)
    app.router.add_get("/{tag}/{id}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    app["up"] = "http://127.0.0.1:%d/up" % port
    leaf = os.environ.get("LEAF_PORT")
    app["leaf"] = "http://127.0.0.1:%s/leaf/" % leaf if leaf else None
    app["session"] = ClientSession()
    if app["leaf"]:
        asyncio.get_running_loop().create_task(background(app))
    sys.stdout.write("listening %d\n" % port)
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    asyncio.run(main())
