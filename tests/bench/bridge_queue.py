"""The Python bridge's asyncio.Queue and create_task costs, for make bench
(section "queues"): ns per operation, printed on one line as name<TAB>value pairs.

  put_get     a put_nowait and a get (await q.get()) by one task
  get_nowait  a get_nowait of a queue holding ints
  empty       an empty() of an empty queue
  task        a create_task of a coroutine that returns at once, awaited
  handoff     an item from a producer to a consumer task (64 per yield)
  submit      a ThreadPoolExecutor.submit of a function that returns, and
              its Future.result(), from the main thread (no request)
  qnowait     a queue.Queue put and get_nowait in the main thread

Usage: python3 bridge_queue.py [N [CASE]]  (default 20000 operations each;
CASE: only that operation, N times, for an instruction count: make bench
runs it under callgrind at two N and takes the difference)."""
import asyncio
import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ONLY = sys.argv[2] if len(sys.argv) > 2 else None


async def noop():
    pass


def want(case):
    return ONLY is None or ONLY == case


async def main():
    out = {}
    q = asyncio.Queue()
    if want("put_get"):
        t = time.perf_counter()
        for i in range(N):
            q.put_nowait(i)
            await q.get()
        out["put_get"] = time.perf_counter() - t
    if want("get_nowait"):
        for i in range(N):
            q.put_nowait(i)
        t = time.perf_counter()
        for _ in range(N):
            q.get_nowait()
        out["get_nowait"] = time.perf_counter() - t
    if want("empty"):
        t = time.perf_counter()
        for _ in range(N):
            q.empty()
        out["empty"] = time.perf_counter() - t
    if want("task"):
        t = time.perf_counter()
        for _ in range(N):
            await asyncio.create_task(noop())
        out["task"] = time.perf_counter() - t
    if want("handoff"):
        done, got = asyncio.Event(), [0]

        async def consumer():
            while True:
                await q.get()
                got[0] += 1
                if got[0] == N:
                    done.set()
        c = asyncio.create_task(consumer())
        t = time.perf_counter()
        for i in range(N):
            q.put_nowait(i)
            if i % 64 == 63:
                await asyncio.sleep(0)
        await done.wait()
        out["handoff"] = time.perf_counter() - t
        c.cancel()
    return out


def threads(out):
    if want("submit"):
        pool = ThreadPoolExecutor(1)
        pool.submit(int).result()
        n = N // 4 if ONLY is None else N     # a thread hop each: slower
        t = time.perf_counter()
        for _ in range(n):
            pool.submit(int).result()
        out["submit"] = (time.perf_counter() - t) * N / n
        pool.shutdown()
    if want("qnowait"):
        q = queue.Queue()
        t = time.perf_counter()
        for i in range(N):
            q.put(i)
            q.get_nowait()
        out["qnowait"] = time.perf_counter() - t


res = asyncio.run(main())
threads(res)
print("\t".join("%s\t%.1f" % (k, v / N * 1e9) for k, v in res.items()))
