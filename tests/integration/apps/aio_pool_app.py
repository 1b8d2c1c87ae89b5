"""tests/integration/t_aio_pool: an asyncio.start_server app (the Python
bridge, no aiohttp) whose requests call a leaf service over one upstream
connection kept in an asyncio.Queue (a pool of one, opened at start-up
with asyncio.open_connection). GET /<tag>/<id> logs "site=arrival
id=<id>", checks the connection out, calls GET /leaf/<id>, checks it back
in, logs "site=called id=<id>" and answers. A task started with the app
borrows the same connection every 5 ms for GET /leaf/bg-<n>, logs
"site=bg id=bg-<n>", then calls GET /leaf/bg-<n>n on a connection of its
own: it serves no request. Prints "listening <port>"."""
import asyncio
import os
import sys

LEAF = int(os.environ["LEAF_PORT"])
POOL = asyncio.Queue()


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


async def call(conn, path):
    r, w = conn
    w.write(("GET %s HTTP/1.1\r\nHost: leaf\r\n\r\n" % path).encode())
    await w.drain()
    n = 0
    while True:
        line = await r.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    await r.readexactly(n)


async def client(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            rid = head.split(b" ")[1].decode().split("/")[2]
            log("arrival", rid)
            conn = await POOL.get()
            try:
                await call(conn, "/leaf/" + rid)
            finally:
                POOL.put_nowait(conn)
            log("called", rid)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    w.close()


async def borrower():
    n = 0
    while True:
        await asyncio.sleep(0.005)
        n += 1
        conn = await POOL.get()
        try:
            await call(conn, "/leaf/bg-%d" % n)
        finally:
            POOL.put_nowait(conn)
        log("bg", "bg-%d" % n)
        own = await asyncio.open_connection("127.0.0.1", LEAF)
        await call(own, "/leaf/bg-%dn" % n)
        own[1].close()


async def main():
    POOL.put_nowait(await asyncio.open_connection("127.0.0.1", LEAF))
    srv = await asyncio.start_server(client, "127.0.0.1", 0)
    task = asyncio.get_running_loop().create_task(borrower())
    print("listening %d" % srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
    del task

asyncio.run(main())
