"""t_take_records' probe of the bridge's extension's task_now(): the task
the running event loop of the calling thread steps, or None. Prints one
"<case> ok" or "<case> WRONG <detail>" line per case."""
import asyncio
import threading

import _reqctx


def check(case, got, want):
    print("%s %s" % (case, "ok" if got is want else "WRONG got %r want %r" % (got, want)))


async def in_task(case):
    check(case, _reqctx.task_now(), asyncio.current_task())


def in_thread(case):
    t = threading.Thread(target=lambda: check(case, _reqctx.task_now(), None))
    t.start()
    t.join()


async def main():
    await in_task("task")
    await asyncio.create_task(in_task("child task"))
    in_thread("thread without a loop, while a task runs")
    check("callback", await call_soon_result(), None)


async def call_soon_result():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    loop.call_soon(lambda: f.set_result(_reqctx.task_now()))
    return await f


asyncio.run(main())
check("outside any loop", _reqctx.task_now(), None)

# A loop run in one thread, then in another while the first runs a loop
# of its own: each thread sees its own task.
loop = asyncio.new_event_loop()
loop.run_until_complete(in_task("loop in the main thread"))
moved, go, done = threading.Event(), threading.Event(), threading.Event()


async def held():
    moved.set()
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    check("moved loop, its task", _reqctx.task_now(), asyncio.current_task())


def other():
    loop.run_until_complete(held())
    done.set()


t = threading.Thread(target=other)
t.start()
moved.wait()


async def mine():
    check("main thread's second loop, while the moved loop runs", _reqctx.task_now(),
          asyncio.current_task())
asyncio.run(mine())
go.set()
t.join()
loop.close()
asyncio.run(in_task("a new loop in the main thread"))
