"""A small HTTP/1.1 server on asyncio.start_server for t_bridge_asyncio
(keep-alive unless the client says Connection: close). GET /<tag>/<id> logs
one stderr line per log-site, each naming the id: on arrival, after await
asyncio.sleep, inside a run_in_executor job, in a task it creates, and
after the response has been drained."""
import asyncio
import random
import sys


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


def blocking(rid):
    log("executor", rid)


async def child(rid):
    await asyncio.sleep(0)
    log("task", rid)


async def serve(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            close = False
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"connection:") and b"close" in h.lower():
                    close = True
            rid = line.split()[1].decode().split("/")[2]
            log("arrival", rid)
            await asyncio.sleep(random.random() * 0.004)
            log("sleep", rid)
            await loop.run_in_executor(None, blocking, rid)
            await asyncio.create_task(child(rid))
            body = ("ok " + rid).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            log("finish", rid)
            if close:
                break
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    sys.stdout.write("listening %d\n" % server.sockets[0].getsockname()[1])
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    asyncio.run(main())
