"""t_queue_shapes' asyncio app: request handlers and workers that pass
items through shared asyncio.Queues in the shapes a trial found wrong IDs
in. GET /<tag>/<id> logs "site=handle id=<id>" first; then, by argv[1]:

  commit  a group commit: the handler asks pending.empty() (the first to
          find it empty leads), puts (id, future) on `pending`; a leader
          sleeps 2 ms, then takes every pending item, logging
          "site=commit id=<item's id>" and resolving it; every handler
          logs "site=acked id=<id>" once its item is committed.
  commitp the same on an asyncio.PriorityQueue of (n, id) (the futures
          kept aside): an order of the queue's own.
  commiti the same on an asyncio.Queue of small ints, the client's slot
          (its number in the id), the id kept aside by slot: a job
          numbered like a token.
  route   results routed through one shared queue: the handler puts its
          id on `jobs`; a worker made at start-up drains `jobs` (a batch)
          and puts each id on `results` after "site=processed id=<id>";
          handlers take from `results` what is there, logging "site=routed
          id=<result's id>" and waking its handler, until their own came:
          "site=got id=<id>".
  pool    a pool of ("db", n) tuples: the handler takes one (logs
          "site=checkout id=<id>") and hands it with its job to one of two
          workers; the worker logs "site=start id=<id>", puts the
          handler's tuple back, takes another for an audit ("site=audit
          id=<id>"), puts it back and logs "site=done id=<id>".
  reserve a dispatcher made at start-up takes each job and makes a task
          for it, silently; the handler reserves an address ("10.0.0.n:80",
          a string) from a pool and hands it with the job; the job's task
          ("site=start id=<id>") borrows another, logs "site=call id=<id>",
          puts both back and logs "site=done id=<id>"; the handler logs
          "site=finished id=<id>".

Each request logs "site=reply id=<id>" once its answer is written.
Prints "listening <port>"; serves until SIGTERM."""
import asyncio
import sys

from app_serve import serve_asyncio


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


async def main(mode):
    loop = asyncio.get_running_loop()
    pending, jobs, results, pool, work = (asyncio.Queue() for _ in range(5))
    if mode == "commitp":
        pending = asyncio.PriorityQueue()
    waiters = {}
    slots = {}
    seq = [0]

    async def batcher():
        while True:
            batch = [await jobs.get()]
            while not jobs.empty():
                batch.append(jobs.get_nowait())
            for rid in batch:
                log("processed", rid)
                results.put_nowait(rid)

    async def worker():
        while True:
            rid, conn, fut = await work.get()
            log("start", rid)
            await asyncio.sleep(0.001)
            pool.put_nowait(conn)
            audit = await pool.get()
            log("audit", rid)
            await asyncio.sleep(0.0005)
            pool.put_nowait(audit)
            log("done", rid)
            fut.set_result(None)

    async def job(rid, reserved, fut):
        log("start", rid)
        up = await pool.get()
        log("call", rid)
        await asyncio.sleep(0.001)
        pool.put_nowait(up)
        pool.put_nowait(reserved)
        log("done", rid)
        fut.set_result(None)

    async def dispatcher():
        while True:
            loop.create_task(job(*await work.get()))

    if mode == "reserve":
        for n in range(16):
            pool.put_nowait("10.0.0.%d:80" % n)
        loop.create_task(dispatcher())
    if mode == "route":
        loop.create_task(batcher())
    if mode == "pool":
        for n in range(6):
            pool.put_nowait(("db", n))
        for _ in range(2):
            loop.create_task(worker())

    async def commit(rid):
        fut = waiters[rid] = loop.create_future()
        # (commiti elects by qsize(), no checkout tried: the slots alone)
        leader = pending.qsize() == 0 if mode == "commiti" else pending.empty()
        seq[0] += 1
        if mode == "commiti":
            slot = int(rid.split("-")[1][1:])
            slots[slot] = rid
            pending.put_nowait(slot)
        else:
            pending.put_nowait((seq[0], rid))
        if leader:
            await asyncio.sleep(0.002)
            while not pending.empty():
                if mode == "commiti":
                    other = slots.pop(pending.get_nowait())
                else:
                    _n, other = pending.get_nowait()
                log("commit", other)
                waiters.pop(other).set_result(None)
        await fut
        log("acked", rid)

    async def route(rid):
        fut = waiters[rid] = loop.create_future()
        jobs.put_nowait(rid)
        while not fut.done():
            await asyncio.sleep(0.001)
            while not results.empty():
                r = results.get_nowait()
                log("routed", r)
                waiters.pop(r).set_result(None)
        log("got", rid)

    async def pooled(rid):
        conn = await pool.get()
        log("checkout", rid)
        fut = loop.create_future()
        work.put_nowait((rid, conn, fut))
        await fut

    async def reserve(rid):
        reserved = await pool.get()
        fut = loop.create_future()
        work.put_nowait((rid, reserved, fut))
        await fut
        log("finished", rid)

    step = {"commit": commit, "commitp": commit, "commiti": commit, "route": route, "pool": pooled,
            "reserve": reserve}[mode]

    async def handle(rid):
        log("handle", rid)
        await step(rid)
        return lambda: log("reply", rid)

    await serve_asyncio(handle)


asyncio.run(main(sys.argv[1]))
