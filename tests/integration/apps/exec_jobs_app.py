"""t_exec_jobs' app: an asyncio HTTP/1.1 server (asyncio.start_server,
keep-alive) whose requests give work to a ThreadPoolExecutor. GET
/<tag>/<id> logs "site=arrival id=<id>", awaits a job that sleeps (a
retry's backoff) and logs "site=retry id=<id>", awaits a job that starts
and joins a thread and logs "site=tstart id=<id>" after it, and hands
<id> to a dispatcher loop the first request started with run_in_executor
and never awaits: it polls a deque with time.sleep and logs
"site=apoll id=<id>" for each. Prints "listening <port>"."""
import asyncio
import collections
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


items = collections.deque()
pool = ThreadPoolExecutor(8)
started = []


def retry(rid):
    time.sleep(0.005)
    log("retry", rid)


def tstart(rid):
    t = threading.Thread(target=time.sleep, args=(0.001,))
    t.start()
    t.join()
    log("tstart", rid)


def poll_loop():
    while True:
        while not items:
            time.sleep(0.002)
        log("apoll", items.popleft())


async def serve(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            rid = line.split()[1].decode().split("/")[2]
            log("arrival", rid)
            if not started:
                started.append(loop.run_in_executor(pool, poll_loop))   # never awaited
            await loop.run_in_executor(pool, retry, rid)
            await loop.run_in_executor(pool, tstart, rid)
            items.append(rid)
            body = ("ok " + rid).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print("listening %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
