"""t_asyncio_sock's app: an HTTP/1.1 server (keep-alive) on asyncio's
loop socket calls, no streams or transports: loop.sock_accept, a task
per connection reading with loop.sock_recv (or sock_recv_into, every
other connection) and answering with loop.sock_sendall. Each request
logs "site=start id=<id>", sleeps 0-2 ms, logs "site=slept id=<id>",
answers, logs "site=sent id=<id>". Prints "listening <port>"."""
import asyncio
import random
import socket
import sys


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


async def conn(loop, c, into):
    buf = b""
    chunk = bytearray(4096)
    while True:
        if into:
            n = await loop.sock_recv_into(c, chunk)
            d = bytes(chunk[:n])
        else:
            d = await loop.sock_recv(c, 4096)
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            rid = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
            log("start", rid)
            await asyncio.sleep(random.random() * 0.002)
            log("slept", rid)
            body = ("ok %s\n" % rid).encode()
            close = b"connection: close" in head.lower()
            await loop.sock_sendall(c, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" %
                                    (len(body), b"Connection: close\r\n" if close else b"") + body)
            log("sent", rid)
            if close:
                c.close()
                return
    c.close()


async def main():
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    s.setblocking(False)
    print("listening %d" % s.getsockname()[1], flush=True)
    n = 0
    while True:
        c, _ = await loop.sock_accept(s)
        c.setblocking(False)
        asyncio.create_task(conn(loop, c, n % 2 == 1))
        n += 1


asyncio.run(main())
