"""tests/integration/t_upgrade: an aiohttp server whose requests do not end
where HTTP/1 usually does. GET /ws/<id> upgrades to a WebSocket (101
Switching Protocols) and logs on open, at each message, after each reply
and at close; POST /body/<id> is sent with Expect: 100-continue and logs
before it reads its body, after, and after its answer. A task the app
starts with itself (no request) sends "tick" to every open WebSocket
every 5 ms and logs before each send ("site=bcast id=<that session's
id>"). Every line names its request's id."""
import asyncio
import sys

from aiohttp import web


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


async def ws(request):
    rid = request.match_info["id"]
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    request.app["open"][rid] = sock
    log("ws_open", rid)
    async for msg in sock:
        log("ws_msg", rid)
        await sock.send_str("echo " + msg.data)
        await asyncio.sleep(0.001)
        log("ws_sent", rid)
    request.app["open"].pop(rid, None)
    log("ws_close", rid)
    return sock


async def broadcast(app):
    while True:
        await asyncio.sleep(0.005)
        for rid, sock in list(app["open"].items()):
            log("bcast", rid)
            try:
                await sock.send_str("tick")
            except ConnectionError:
                pass


async def body(request):
    rid = request.match_info["id"]
    log("before_body", rid)
    data = await request.read()
    log("after_body", rid)
    resp = web.Response(text="got %d" % len(data))
    await resp.prepare(request)
    await resp.write_eof()
    log("after_answer", rid)
    return resp


async def main():
    app = web.Application()
    app["open"] = {}
    app.router.add_get("/ws/{id}", ws)
    app.router.add_post("/body/{id}", body)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ticker = asyncio.get_running_loop().create_task(broadcast(app))
    sys.stdout.write("listening %d\n" % site._server.sockets[0].getsockname()[1])
    sys.stdout.flush()
    await asyncio.Event().wait()
    del ticker

asyncio.run(main())
