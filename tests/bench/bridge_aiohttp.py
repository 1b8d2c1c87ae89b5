"""tests/bench/bridges: a minimal aiohttp server. Each request logs a line
on arrival and one after await asyncio.sleep(0), then answers."""
import asyncio
import signal
import sys

from aiohttp import web


async def handle(request):
    sys.stderr.write("arrival %s\n" % request.path)
    await asyncio.sleep(0)
    sys.stderr.write("done %s\n" % request.path)
    return web.Response(text="ok")


async def main():
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sys.stdout.write("listening %d\n" % site._server.sockets[0].getsockname()[1])
    sys.stdout.flush()
    await asyncio.Event().wait()

signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
asyncio.run(main())
