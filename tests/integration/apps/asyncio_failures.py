"""tests/integration/t_bridge_asyncio: asyncio callbacks that fail, and
handles the bridge's Handle._run of C passes to its Python one. What it
prints (asyncio's reports of the failures, a custom exception handler's
view of them, the traceback of a KeyboardInterrupt raised in a callback)
must be the same with the agent and its bridge as without them."""
import asyncio
import asyncio.events
import sys
import traceback

handles = [None]


def boom(x, y=2):
    raise ValueError("boom %s" % x)


def cancels_itself():
    handles[0].cancel()
    raise KeyError("after cancel")


def shows(*args):
    print("callback ran with", args)


class OwnContext:
    """A handle's _context that is not a contextvars.Context."""

    def run(self, cb, *args):
        print("OwnContext.run")
        return cb(*args)

    def get(self, var, default=None):
        return default


def custom(loop, context):
    exc = context.get("exception")
    print("custom:", sorted(context), context["message"], repr(context.get("handle")))
    print("".join(traceback.format_exception(exc)), end="")


async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(boom, 1)
    await asyncio.sleep(0.01)
    handles[0] = loop.call_soon(cancels_itself)
    await asyncio.sleep(0.01)
    loop.set_exception_handler(custom)
    loop.call_soon(boom, 3)
    loop.call_later(0.001, boom, 4)
    await asyncio.sleep(0.02)
    asyncio.events.Handle(shows, [1, 2], loop)._run()
    asyncio.events.Handle(shows, (3,), loop, context=OwnContext())._run()
    asyncio.events.Handle(boom, (5,), loop, context=OwnContext())._run()
    loop.call_soon(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    await asyncio.sleep(0.05)


try:
    asyncio.run(main())
except KeyboardInterrupt:
    traceback.print_exc(file=sys.stdout)
print("end")
