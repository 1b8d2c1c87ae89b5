"""t_swap's Python app: request handlers that exchange items through a
shared queue. Each request (GET /<tag>/<id>) logs "site=handle id=<id>",
puts its ID on `pairs`, waits until another ID is there too (up to 30
ms) and takes the first: often another request's. It logs "site=swap id=<taken>" and "site=after
id=<own>", then "site=reply id=<own>" once its answer is written (asyncio)
or before (threads). A handler serves every request of its keep-alive
connection, so the ID it puts in a later request goes on a queue it took
from before.

argv[1]: "asyncio" (a task per connection), "waitfor" (the same, taking
with asyncio.wait_for(pairs.get(), 1): before 3.12 a task of its own
takes), "gather" (taking with asyncio.gather(pairs.get()): a task of its
own takes), "ready" (as "asyncio", the main task having taken a "ready"
item from a queue before it serves), "executor" (pairs a queue.Queue,
taken with loop.run_in_executor(None, pairs.get)), "tothread" (the same
through asyncio.to_thread(pairs.get)), "execfn" and "tothreadfn" (the
same, the get inside a function of the app's own: run_in_executor(None,
lambda: pairs.get()), asyncio.to_thread(take)), "wrap" (taken by a coroutine of
the app's own in a task of its own: await create_task(take())),
"ctxrun", "ctxarg" (the same, the task made in a copy of the handler's
context: copy_context().run(create_task, take()), create_task(take(),
context=copy_context())), "soon" (taken with get_nowait by a callback the
handler scheduled with call_soon, handed back through a future) or
"threads" (a
ThreadingHTTPServer, a queue.Queue) or "threadexec" (the same, taken in a
ThreadPoolExecutor's job whose result the handler waits for:
pool.submit(lambda: pairs.get()).result()), "threadhand" (the same,
the handler waiting for the oldest such future any handler queued: often
another request's) or "threadnw" (taken with
get_nowait, a blocking get only where the queue is empty), "threadrun"
(no queue: the handler runs asyncio.run of a coroutine that logs "swap"
with its own ID), "threadlifo"
(the same on a queue.LifoQueue: a job queue, though LIFO; it waits 3 ms
more before it takes, so that later requests' items are on top). Prints "listening <port>"."""
import sys

from app_serve import serve_asyncio, serve_threaded


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


def main_asyncio(how):
    import asyncio
    import contextvars

    async def main():
        if how == "ready":
            ready = asyncio.Queue()
            asyncio.get_running_loop().call_later(0.01, ready.put_nowait, "ready")
            await ready.get()
        if how in ("executor", "tothread", "execfn", "tothreadfn"):
            import queue
            pairs = queue.Queue()
            pairs.put_nowait = pairs.put
        else:
            pairs = asyncio.Queue()

        async def work(rid):
            log("handle", rid)
            pairs.put_nowait(rid)
            for _ in range(30):
                if pairs.qsize() >= 2:
                    break
                await asyncio.sleep(0.001)
            if how == "waitfor":
                other = await asyncio.wait_for(pairs.get(), 1)
            elif how == "gather":
                (other,) = await asyncio.gather(pairs.get())
            elif how == "executor":
                other = await asyncio.get_running_loop().run_in_executor(None, pairs.get)
            elif how == "tothread":
                other = await asyncio.to_thread(pairs.get)
            elif how == "execfn":
                other = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: pairs.get())
            elif how == "tothreadfn":
                def take():
                    return pairs.get(timeout=5)
                other = await asyncio.to_thread(take)
            elif how in ("wrap", "ctxrun", "ctxarg", "soon"):
                async def take():
                    return await pairs.get()
                if how == "wrap":
                    other = await asyncio.create_task(take())
                elif how == "ctxrun":
                    other = await contextvars.copy_context().run(asyncio.create_task, take())
                elif how == "ctxarg":
                    other = await asyncio.get_running_loop().create_task(
                        take(), context=contextvars.copy_context())
                else:
                    fut = asyncio.get_running_loop().create_future()

                    def cb():
                        if pairs.empty():
                            asyncio.get_running_loop().call_later(0.001, cb)
                        else:
                            fut.set_result(pairs.get_nowait())
                    asyncio.get_running_loop().call_soon(cb)
                    other = await fut
            else:
                other = await pairs.get()
            log("swap", other)
            log("after", rid)
            return lambda: log("reply", rid)

        await serve_asyncio(work)
    asyncio.run(main())


def main_threads(how):
    import asyncio
    import queue
    import time
    from concurrent.futures import ThreadPoolExecutor
    pairs = queue.LifoQueue() if how == "threadlifo" else queue.Queue()
    pool = ThreadPoolExecutor(4)
    import collections
    futures = collections.deque()

    def work(rid):
        log("handle", rid)
        if how == "threadrun":
            # asyncio.run in the handler's thread: its coroutine logs
            async def inner():
                log("swap", rid)
                return rid
            asyncio.run(inner())
            log("after", rid)
            log("reply", rid)
            return
        pairs.put(rid)
        for _ in range(30):
            if pairs.qsize() >= 2:
                break
            time.sleep(0.001)
        if how == "threadlifo":
            time.sleep(0.003)       # later requests' items go on top
        if how == "threadexec":
            other = pool.submit(lambda: pairs.get(timeout=5)).result()
        elif how == "threadhand":
            futures.append(pool.submit(lambda: pairs.get(timeout=5)))
            for _ in range(30):
                if len(futures) >= 2:
                    break
                time.sleep(0.001)
            other = futures.popleft().result()
        elif how in ("threadnw", "threadlifo"):
            try:
                other = pairs.get_nowait()
            except queue.Empty:
                other = pairs.get()
        else:
            other = pairs.get()
        log("swap", other)
        log("after", rid)
        log("reply", rid)

    serve_threaded(work)


if sys.argv[1] in ("threads", "threadexec", "threadhand", "threadnw", "threadlifo", "threadrun"):
    main_threads(sys.argv[1])
else:
    main_asyncio(sys.argv[1])
