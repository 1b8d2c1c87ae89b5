"""t_batch_drain's asyncio app: a bare asyncio.start_server HTTP/1.1
responder (keep-alive) and four consumer tasks made at start-up, in no
request. GET /<tag>/<id> logs "site=arrival id=<id>", puts <id> on each
consumer's asyncio.Queue, logs "site=answered id=<id>" after a short sleep,
and answers. The consumers:
  drain       takes one item, sleeps 10 ms, takes what else is queued
              (get_nowait), then logs each: a batch
  drain_step  the same without the sleep, with await q.get() while the
              queue is not empty: a batch taken in one step
  collect     takes two items (await q.get() each, waiting), then logs
              each: a batch collected with waiting gets
  took        takes one item, logs "took", takes what else is queued
              (get_nowait until QueueEmpty), logging "took" after each,
              then logs each item ("site=took_done"): a batch whose takes
              each wrote a line
  waited      the same, but its second take is await q.get(), which
              often waits for the next request ("site=waited", then
              "site=waited_done"); polled the same with its second take
              polled (get_nowait every 5 ms); a tick puts None (no request's)
              after 100 ms without a request, so that the last request's
              wait ends
  started     takes one item, logs "started" (no ID), drains the rest
              (while not q.empty()), then logs each ("site=started_done")
  waitfor     takes its first item with await q.get(), each later one
              with asyncio.wait_for(q.get(), 0.05) (an idle timeout:
              "idle" logged, no ID), and logs each
  lag         logs each item once it took the next (or after 50 ms of
              none): a consumer that holds an item across a take
  item        takes one item (await q.get()) and logs it (its queue
              bounded: each put asks full(), which asks qsize())
  item_await  takes one item, sleeps 1 ms, logs it
Prints "listening <port>" on stdout; serves until SIGTERM.
"""
import asyncio
import sys

from app_serve import serve_asyncio


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


async def drain(q):
    while True:
        batch = [await q.get()]
        await asyncio.sleep(0.01)
        while not q.empty():
            batch.append(q.get_nowait())
        for rid in batch:
            log("drain", rid)


async def drain_step(q):
    while True:
        batch = [await q.get()]
        while not q.empty():
            batch.append(await q.get())
        for rid in batch:
            log("drain_step", rid)


async def collect(q):
    while True:
        batch = [await q.get() for _ in range(2)]
        for rid in batch:
            log("collect", rid)


async def took(q, site="took", done_site="took_done"):
    """The "took" consumer (t_take_log's too, with sites of its own and
    no lines at the batch's end when done_site is None)."""
    while True:
        rid = await q.get()
        log(site, rid)
        batch = [rid]
        await asyncio.sleep(0.01)
        while True:
            try:
                rid = q.get_nowait()
            except asyncio.QueueEmpty:
                break
            log(site, rid)
            batch.append(rid)
        for rid in batch if done_site else ():
            log(done_site, rid)


WAITED_AT = [None]      # when the last request put on waited's queue


async def take_two(q, site, poll):
    """waited and polled: one item, a line, a second item (await q.get(),
    or get_nowait() polled every 5 ms), a line, then what else is
    queued, and a line about each."""
    async def tick():   # ends the last request's wait: None after 100 ms of no put
        loop = asyncio.get_running_loop()
        done = None     # the put this tick answered (each consumer's tick its own)
        while True:
            await asyncio.sleep(0.02)
            at = WAITED_AT[0]
            if at is not None and at != done and loop.time() - at > 0.1:
                done = at
                q.put_nowait(None)
    asyncio.create_task(tick())

    def note(site, rid):
        if rid is not None:
            log(site, rid)
    while True:
        batch = [await q.get()]
        note(site, batch[0])
        while not poll:
            batch.append(await q.get())
            break
        while poll:
            try:
                batch.append(q.get_nowait())
                break
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.005)
        note(site, batch[1])
        while True:
            try:
                batch.append(q.get_nowait())
            except asyncio.QueueEmpty:
                break
            note(site, batch[-1])
        for rid in batch:
            note(site + "_done", rid)


async def waited(q):
    await take_two(q, "waited", False)


async def polled(q):
    await take_two(q, "polled", True)


async def started(q):
    while True:
        batch = [await q.get()]
        sys.stderr.write("batch started\n")
        await asyncio.sleep(0.01)
        while not q.empty():
            batch.append(q.get_nowait())
        for rid in batch:
            log("started_done", rid)


async def waitfor(q):
    log("waitfor", await q.get())
    while True:
        try:
            rid = await asyncio.wait_for(q.get(), 0.05)
        except asyncio.TimeoutError:
            sys.stderr.write("idle\n")
            continue
        log("waitfor", rid)


async def lag(q):
    prev = None
    while True:
        try:
            rid = await asyncio.wait_for(q.get(), 0.05)
        except asyncio.TimeoutError:
            if prev is not None:
                log("lag", prev)
                prev = None
            continue
        if prev is not None:
            log("lag", prev)
        prev = rid


async def item(q):
    while True:
        log("item", await q.get())


async def item_await(q):
    while True:
        rid = await q.get()
        await asyncio.sleep(0.001)
        log("item_await", rid)


async def main():
    consumers = (drain, drain_step, collect, took, waited, polled, started, waitfor, lag, item, item_await)
    # item's queue is bounded: a put asks full(), which asks qsize()
    queues = [asyncio.Queue(maxsize=1000 if f is item else 0) for f in consumers]
    tasks = [asyncio.create_task(f(q)) for f, q in zip(consumers, queues)]

    async def work(rid):
        log("arrival", rid)
        for q in queues:
            q.put_nowait(rid)
        WAITED_AT[0] = asyncio.get_running_loop().time()
        await asyncio.sleep(0.002)
        log("answered", rid)

    await serve_asyncio(work)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
