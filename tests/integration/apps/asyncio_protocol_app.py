"""tests/integration/t_asyncio_protocol: an HTTP/1.1 server on a plain
asyncio.Protocol, keep-alive, whose data_received creates one task per
request (as uvicorn's h11 protocol does). GET /<tag>/<id> logs
"site=received id=<id>" in data_received, "site=task id=<id>" in the
task it creates, "site=later id=<id>" in a callback data_received
schedules with loop.call_later (which the task waits for), after that
"site=awaited id=<id>", and answers. With the argument "buffered" the
protocol is an asyncio.BufferedProtocol (buffer_updated in place of
data_received). Prints "listening <port>"."""
import asyncio
import sys


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.feed(data)

    def feed(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            rid = head.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
            log("received", rid)
            loop = asyncio.get_running_loop()
            later = loop.create_future()
            loop.call_later(0.001, self.later, rid, later)
            loop.create_task(self.handle(rid, later))

    def later(self, rid, fut):
        log("later", rid)
        fut.set_result(None)

    async def handle(self, rid, later):
        log("task", rid)
        await later
        log("awaited", rid)
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


class HttpBuffered(Http, asyncio.BufferedProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.room = bytearray(65536)

    def get_buffer(self, sizehint):
        return self.room

    def buffer_updated(self, nbytes):
        self.feed(bytes(self.room[:nbytes]))


async def main():
    proto = HttpBuffered if sys.argv[1:] == ["buffered"] else Http
    srv = await asyncio.get_running_loop().create_server(proto, "127.0.0.1", 0)
    print("listening %d" % srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


asyncio.run(main())
