"""tests/integration/t_rt_tornado: a Tornado web application. GET
/<tag>/<id> logs "site=arrival id=<id>" in the handler, after an await
"site=awaited id=<id>", in a callback it spawns on the IOLoop
"site=spawned id=<id>", through the logging module "site=logged
id=<id>", and answers. Prints "listening <port>"."""
import asyncio
import logging
import sys

import tornado.ioloop
import tornado.web

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
log = logging.getLogger("app")
logging.getLogger("tornado.access").setLevel(logging.WARNING)


def say(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))


class Item(tornado.web.RequestHandler):
    async def get(self, rid):
        say("arrival", rid)
        await asyncio.sleep(0.001)
        say("awaited", rid)
        tornado.ioloop.IOLoop.current().spawn_callback(say, "spawned", rid)
        log.info("site=logged id=%s", rid)
        self.write("ok\n")


async def main():
    app = tornado.web.Application([(r"/[^/]+/([^/]+)", Item)])
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    print("listening %d" % port, flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
