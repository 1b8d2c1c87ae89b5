"""t_bridge_py_api: calls the functions the Python bridge wraps, with
good and bad arguments, and prints what a program can see of each
outcome: the value, or the exception's type and message, and each
function's name, qualified name, module and docstring. The output must
be the same with the agent as without (the bridge's frames in a
traceback are the one known difference: not printed here)."""
import asyncio
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def show(label, f):
    try:
        r = f()
        print(label, "->", repr(r))
    except BaseException as e:      # noqa: BLE001 - the outcome is the output
        print(label, "raised", type(e).__name__, str(e))


pool = ThreadPoolExecutor(2)
show("sleep(0)", lambda: time.sleep(0))
show("sleep(secs=0)", lambda: time.sleep(secs=0))
show("sleep('a')", lambda: time.sleep("a"))
show("sleep(-1)", lambda: time.sleep(-1))
show("sleep()", lambda: time.sleep())
show("sleep(0, 1)", lambda: time.sleep(0, 1))
show("submit()", lambda: pool.submit())
show("submit(fn=f)", lambda: pool.submit(fn=lambda: 1))
show("submit(f).result()", lambda: pool.submit(lambda: 7).result())
show("submit(f, 2).result(timeout=1)", lambda: pool.submit(lambda x: x * 3, 2).result(timeout=1))
show("result() of a failing job", lambda: pool.submit(lambda: 1 / 0).result())
show("result(timeout=0) of a slow job", lambda: pool.submit(time.sleep, 0.2).result(timeout=0))
show("result('x')", lambda: pool.submit(time.sleep, 0.1).result("x"))   # it waits: compares
show("map", lambda: list(pool.map(lambda x: x + 1, [1, 2, 3])))
f = pool.submit(time.sleep, 0.2)
f2 = pool.submit(time.sleep, 0.2)
f3 = pool.submit(lambda: 5)
show("cancel a queued job", lambda: f3.cancel() or f3.cancelled())
show("result() of a cancelled job", lambda: f3.result() if f3.cancelled() else "ran")
t = threading.Thread(target=time.sleep, args=(0.05,))
t.start()
show("join('x')", lambda: t.join("x"))
show("join(timeout=1)", lambda: t.join(timeout=1))
show("join of a thread not started", lambda: threading.Thread(target=print).join())
q = queue.Queue()
show("Queue.get_nowait() empty", lambda: q.get_nowait())
q.put(1)
show("Queue.get(False)", lambda: q.get(False))
show("Queue.get(timeout=-1)", lambda: q.get(timeout=-1))
show("LifoQueue.put on a full queue", lambda: (lambda lq: (lq.put(1), lq.put(2, timeout=0.01)))(
    queue.LifoQueue(1)))
show("LifoQueue.put_nowait(1, 2)", lambda: queue.LifoQueue().put_nowait(1, 2))
show("LifoQueue put, get", lambda: (lambda lq: (lq.put("x"), lq.get_nowait()))(queue.LifoQueue()))
sq = queue.SimpleQueue()
show("SimpleQueue.get_nowait() empty", lambda: sq.get_nowait())
sq.put(2)
show("SimpleQueue.get_nowait()", lambda: sq.get_nowait())
show("SimpleQueue.get_nowait(1)", lambda: sq.get_nowait(1))
sq.put(3)
show("SimpleQueue.get(block=False)", lambda: sq.get(block=False))
show("to_thread", lambda: asyncio.run(asyncio.to_thread(lambda: 9)))
show("ThreadPoolExecutor(0)", lambda: ThreadPoolExecutor(0))
show("ThreadPoolExecutor(x=1)", lambda: ThreadPoolExecutor(x=1))
show("ThreadPoolExecutor(1, 'p', None, (), 5)", lambda: ThreadPoolExecutor(1, "p", None, (), 5))
show("its work queue's type", lambda: type(pool._work_queue).__module__ + "." +
     type(pool._work_queue).__qualname__)
import inspect  # noqa: E402 - only here: the probe's other outcomes come first
show("signature(ThreadPoolExecutor)", lambda: str(inspect.signature(ThreadPoolExecutor)))
# SimpleQueue's methods: a subclass's functions have a module where the
# C type's have none (the subclass is documented, README).
for fn in (time.sleep, ThreadPoolExecutor.__init__, ThreadPoolExecutor.submit, type(f).result, threading.Thread.join,
           threading.Thread.start,
           queue.Queue.get, queue.Queue.put, queue.SimpleQueue.get, queue.SimpleQueue.get_nowait):
    mod = getattr(fn, "__module__", None) if "SimpleQueue" not in fn.__qualname__ else "-"
    print("names", fn.__name__, fn.__qualname__, mod, repr((fn.__doc__ or "")[:40]))
pool.shutdown()
