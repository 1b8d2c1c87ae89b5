"""tests/integration/t_asyncio_protocol: an HTTP/1.1 server on a plain
asyncio.Protocol, keep-alive, whose data_received creates one task per
request (as uvicorn's h11 protocol does). GET /<tag>/<id> logs
"site=received id=<id>" in data_received, "site=task id=<id>" in the
task it creates, after an await "site=awaited id=<id>", and answers.
Prints "listening <port>"."""
import asyncio
import sys


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            rid = head.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
            log("received", rid)
            asyncio.get_running_loop().create_task(self.handle(rid))

    async def handle(self, rid):
        log("task", rid)
        await asyncio.sleep(0.001)
        log("awaited", rid)
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


async def main():
    srv = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", 0)
    print("listening %d" % srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


asyncio.run(main())
