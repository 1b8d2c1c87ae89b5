"""tests/integration/t_bridge_asyncio: asyncio callbacks that fail, and
handles the bridge's Handle._run of C passes to its Python one. What it
prints (asyncio's reports of the failures, a custom exception handler's
view of them, the traceback of a KeyboardInterrupt raised in a callback)
must be the same with the agent and its bridge as without them."""
import asyncio
import asyncio.events
import contextvars
import sys
import traceback

request = contextvars.ContextVar("request", default="-")
retried = []

handles = [None]


def boom(x, y=2):
    raise ValueError("boom %s" % x)


def cancels_itself():
    handles[0].cancel()
    raise KeyError("after cancel")


def shows(*args):
    print("callback ran with", args)


def flaky(n):
    request.set("r%d" % n)
    if not retried:
        raise OSError("flaky %d" % n)
    print("flaky ran again with", n, request.get())


class Bare:
    """A handle's _context with nothing but run()."""

    def run(self, cb, *args):
        print("Bare.run")
        return cb(*args)


class OwnContext:
    """A handle's _context that is not a contextvars.Context."""

    def run(self, cb, *args):
        print("OwnContext.run")
        return cb(*args)

    def get(self, var, default=None):
        return default


def custom(loop, context):
    exc = context.get("exception")
    h = context.get("handle")
    print("custom:", sorted(context), context["message"], repr(h))
    if h is not None:
        # what a handler may read of the failed handle: its context's
        # variables, its callback and arguments, and run it again there
        print("  its context:", type(h._context).__name__, h._context.run(request.get),
              "callback:", getattr(h._callback, "__name__", h._callback), "args:", h._args,
              "cancelled:", h.cancelled())
        if h._callback is flaky and not retried:
            retried.append(1)
            loop.call_soon(h._callback, *h._args, context=h._context)
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
    loop.call_soon(flaky, 6)
    await asyncio.sleep(0.01)
    handles[0] = loop.call_soon(cancels_itself)
    await asyncio.sleep(0.01)
    loop.call_soon(shows, 7, context=Bare())
    await asyncio.sleep(0.01)
    # a context entered already: Context.run refuses, the callback never runs
    entered = contextvars.copy_context()
    entered.run(lambda: asyncio.events.Handle(shows, (8,), loop, context=entered)._run())
    # an exception out of a StreamReader's read method
    reader = asyncio.StreamReader()
    reader.feed_data(b"ab")
    reader.feed_eof()
    try:
        await reader.readexactly(5)
    except asyncio.IncompleteReadError:
        traceback.print_exc(file=sys.stdout)
    print(asyncio.StreamReader.readexactly.__qualname__)
    # debug mode: where a task says it was created
    loop.set_debug(True)
    made = loop.create_task(asyncio.sleep(0))
    print("task created at", made._source_traceback[-1][:3])
    await made
    loop.set_debug(False)
    for call in (lambda: asyncio.events.Handle(shows, (9,), loop)._run(1),
                 lambda: loop.run_forever(1)):
        try:
            call()
        except TypeError as e:
            print("TypeError:", e)
    loop.call_soon(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    await asyncio.sleep(0.05)


try:
    asyncio.run(main())
except KeyboardInterrupt:
    traceback.print_exc(file=sys.stdout)
print("end")
