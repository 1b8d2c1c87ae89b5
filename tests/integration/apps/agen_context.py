"""t_finalizers' rule-3 check: an async generator dropped unfinished (once
by its last reference, once in a cycle a collection finds) reads the
program's context variables in its finally: a ContextVar set by the task
that ran it and decimal's context. Prints what it saw on stdout; the same
with the agent and without."""
import asyncio
import contextvars
import decimal
import gc

cv = contextvars.ContextVar("cv")


async def gen():
    try:
        yield 1
        yield 2
    finally:
        print("finally cv=%s prec=%d" % (cv.get("MISSING"), decimal.getcontext().prec), flush=True)


async def main():
    cv.set("main-value")
    decimal.getcontext().prec = 5
    g = gen()
    async for _ in g:
        break
    del g
    await asyncio.sleep(0.05)

    class Holder:
        pass
    h = Holder()
    h.me = h
    h.g = gen()
    async for _ in h.g:
        break
    del h
    gc.collect()
    await asyncio.sleep(0.05)


asyncio.run(main())
