"""asyncio apps for t_rt_asyncio. Usage: python3 asyncio_app.py aiohttp|raw PORT [UPSTREAM_PORT]
Every line it writes to stderr is "site=<log-site> id=<id> pid=<pid>":
  arrival         in the handler, first thing
  after_sleep     after await asyncio.sleep(0.005)
  upstream        (aiohttp) in the upstream's handler, a second aiohttp app
                  in the same process that the handler calls through an
                  aiohttp.ClientSession, X-Request-Id set to the same id
  after_upstream  (aiohttp) after the upstream's answer has been read
  executor_job    inside a job run by loop.run_in_executor on a module-level
                  ThreadPoolExecutor
  task            inside a task started by asyncio.create_task and awaited
  end             in the handler, before it answers
aiohttp's access log (it shows the path) goes to stderr too (logging).
"raw" is a bare asyncio.start_server HTTP/1.1 responder (keep-alive unless
the client sends Connection: close) doing the same without the upstream.
"""
import asyncio
import concurrent.futures
import logging
import os
import re
import sys
import time

POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4)
ID_IN_PATH = re.compile(r"[?&]id=([^&\s]*)")


# The logging module, as apps do: its handler lock makes each line one
# write by the thread that logs it. (Bare sys.stderr.write + flush from
# several threads is not: they share the stream's buffer, and one thread's
# flush can write another thread's line in its own write(2), so that line
# gets the flushing thread's prefix.)
LOG = logging.getLogger("asyncio_app")
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(message)s"))
LOG.addHandler(_handler)
LOG.setLevel(logging.INFO)
LOG.propagate = False


def log(site, rid):
    LOG.info("site=%s id=%s pid=%d", site, rid, os.getpid())


def job(rid):
    time.sleep(0.001)
    log("executor_job", rid)
    return rid


async def task(rid):
    await asyncio.sleep(0)
    log("task", rid)


async def work(rid, call_upstream=None):
    log("arrival", rid)
    await asyncio.sleep(0.005)
    log("after_sleep", rid)
    if call_upstream is not None:
        await call_upstream(rid)
        log("after_upstream", rid)
    await asyncio.get_running_loop().run_in_executor(POOL, job, rid)
    await asyncio.create_task(task(rid))
    log("end", rid)
    return "ok %s\n" % rid


async def run_aiohttp(port, up_port):
    from aiohttp import web, ClientSession
    # the access log through the same handler (so the same lock) as the app
    access = logging.getLogger("aiohttp.access")
    access.addHandler(_handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    session = ClientSession()

    async def call_upstream(rid):
        async with session.get("http://127.0.0.1:%d/up?id=%s" % (up_port, rid),
                               headers={"X-Request-Id": rid}) as r:
            await r.read()

    async def handle(request):
        rid = request.query.get("id", "-")
        return web.Response(text=await work(rid, call_upstream))

    async def handle_up(request):
        rid = request.query.get("id", "-")
        log("upstream", rid)
        return web.Response(text="up %s\n" % rid)

    up = web.Application()
    up.router.add_get("/up", handle_up)
    app = web.Application()
    app.router.add_get("/job", handle)
    fmt = 'access "%r" %s'
    runners = []
    for a, p in ((up, up_port), (app, port)):
        runner = web.AppRunner(a, access_log_format=fmt)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", p).start()
        runners.append(runner)
    print("listening %d" % port, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        for r in runners:
            await r.cleanup()


async def run_raw(port):
    async def conn(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                first = head.split(b"\r\n", 1)[0].decode("latin-1")
                m = ID_IN_PATH.search(first)
                rid = m.group(1) if m else "-"
                close = b"\r\nconnection: close" in head.lower()
                body = (await work(rid)).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n%s\r\n%s"
                             % (len(body), b"Connection: close\r\n" if close else b"", body))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(conn, "127.0.0.1", port, backlog=128)
    print("listening %d" % port, flush=True)
    async with server:
        await server.serve_forever()


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "aiohttp":
        asyncio.run(run_aiohttp(port, int(sys.argv[3])))
    elif kind == "raw":
        asyncio.run(run_raw(port))
    else:
        sys.exit("usage: asyncio_app.py aiohttp|raw PORT [UPSTREAM_PORT]")


if __name__ == "__main__":
    main()
