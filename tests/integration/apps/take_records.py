"""t_take_records' app: takes from asyncio queues in patterns that reach
every branch of the Python bridge's take records (a queue's
_reqctx_takers: one record per task that took or tried to, the request
it took in, the last four items' ids), then prints each queue's records
in a form that names no address: the task's name (or "gone"), what the
request is (none, or a label per object by first sight: the bridge's
"unset" and a consumer's "any"), and which items' ids it keeps. Run with the bridge's extension and through ctypes (its Python
functions), the output must be the same.

Patterns: a task that takes six items (four kept), one that only tries
(an empty queue's empty()), a consumer (a task with no request that took
before: its takes are "any"), 260 tasks on one queue of which 200 go
(past the 256 records a queue keeps: the records of tasks gone are
dropped), 260 live ones on another (then the oldest), and a record whose task is gone before another task
takes; and a keep-alive connection's handler taking in one request,
then in the next. The same for the items' bookkeeping (a queue's
_reqctx_snaps and _reqctx_taken): items of every kind taken and put
back, more than the 64 taken kept, a LifoQueue, a PriorityQueue, a queue
changed behind its methods, and a handler's check-ins in a later
request."""
import asyncio
import gc
import os
import sys

CLIENT = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for n in range(2):
    s.sendall(b"GET /%d HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: take-records-%d\\r\\n\\r\\n" % (n, n))
    got = b""
    while not got.endswith(b"\\r\\n\\r\\n"):
        got += s.recv(1)
    print("answered", n, flush=True)
    if n == 0:
        sys.stdin.readline()
"""


class Item:
    """A weakly referenceable item, kept alive so that its id is its own."""
    def __init__(self, n):
        self.n = n


ITEMS = [Item(n) for n in range(2000)]
BY_ID = {id(x): x.n for x in ITEMS}
# Items of other kinds, kept alive (their ids stay theirs), by name.
OTHERS = {"str-a": "str-a", "str-b": "str-b", "tuple": (1, 2), "big": 10 ** 6 + 1,
          "float": 2.5, "s-1100": "s-1100"}
NAMES = dict(((id(v), k) for k, v in OTHERS.items()), **{})
NAMES.update((i, "o%d" % n) for i, n in BY_ID.items())


SEEN = []      # (object, label): kept, so that no id is reused


def label_of(req):
    """"none", or a name for each other object by first sight ("r1", ...):
    the bridge's sentinels (unset, a consumer's "any") and requests."""
    if req is None:
        return "none"
    for obj, name in SEEN:
        if obj is req:
            return name
    SEEN.append((req, "r%d" % (len(SEEN) + 1)))
    return SEEN[-1][1]


def show(label, q):
    """Prints q's records of live tasks (which records of tasks gone are
    left depends on addresses reused, which differ between two runs that
    allocate differently), then "# <label> total <n>": all of them."""
    takers = q.__dict__.get("_reqctx_takers")
    if takers is None:
        print(label, "no records")
        return
    rows = []
    for rec in takers.values():
        t = rec[0]()
        if t is not None:
            kept = [BY_ID.get(i, "?") for i in rec[2:]]
            rows.append("%s %s %s" % (t.get_name(), label_of(rec[1]), kept))
    print(label, len(rows), "live records")
    for r in rows:
        print("  ", r)
    print("#", label, "total", len(takers))


def show_items(label, q):
    """Prints q's snaps (what each item in it was put in) and its taken
    record (key: a value, or an item's name; what is kept: "-" for a
    value, "ref" for a weak reference, "in <label>" for the request an
    item with none was taken in, else the object's label)."""
    snaps = q.__dict__.get("_reqctx_snaps")
    print(label, "snaps", None if snaps is None else [label_of(x) for x in snaps])
    taken = q.__dict__.get("_reqctx_taken")
    if taken is None:
        print(label, "taken none")
        return
    rows = []
    for k, v in taken.items():
        name = "value %r" % (k[1],) if type(k) is tuple else NAMES.get(k, "?")
        if v is None:
            kept = "-"
        elif type(v) is tuple:
            kept = "in " + label_of(v[0])
        elif type(v).__name__ == "ReferenceType":
            kept = "ref" if v() is not None else "dead ref"
        else:
            kept = label_of(v)
        rows.append("%s: %s" % (name, kept))
    print(label, "taken", rows)


async def main():
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    async def taker_of(n, first):
        for i in range(n):
            q.put_nowait(ITEMS[first + i])
        for _ in range(n):
            await q.get()
    alive = [loop.create_task(taker_of(6, 0), name="six")]
    await alive[-1]
    alive.append(loop.create_task(taker_of(2, 10), name="two"))
    await alive[-1]

    async def tries():
        q.empty()
    alive.append(loop.create_task(tries(), name="tries"))
    await alive[-1]
    show("q", q)

    # A consumer: no request, takes in a loop (its from_queue set).
    c = asyncio.Queue()

    async def consumer():
        for _ in range(5):
            await c.get()
            c.empty()
    t = loop.create_task(consumer(), name="consumer")
    for i in range(5):
        c.put_nowait(ITEMS[100 + i])
        await asyncio.sleep(0)
    await t
    show("c", c)

    # 250 tasks take from one queue; 200 of them go, their memory taken
    # by tasks that do not take (no new task at a gone one's address);
    # then 10 more take: past 256 records, those of the tasks gone are
    # dropped, not the oldest (a live task's).
    m = asyncio.Queue()

    async def one(n):
        m.put_nowait(ITEMS[200 + n])
        m.get_nowait()

    async def idle():
        pass
    tasks = []
    for n in range(250):
        tasks.append(loop.create_task(one(n), name="t%03d" % n))
        await tasks[-1]
    tasks = [t for n, t in enumerate(tasks) if n % 5 == 0]
    gc.collect()
    soak = []
    for n in range(400):
        soak.append(loop.create_task(idle()))
        await soak[-1]
    for n in range(250, 260):
        tasks.append(loop.create_task(one(n), name="t%03d" % n))
        await tasks[-1]
    show("m", m)

    # Full of live tasks: the oldest record goes.
    f = asyncio.Queue()
    live = []
    for n in range(260):
        task = loop.create_task(one_on(f, ITEMS[600 + n]), name="f%03d" % n)
        await task
        live.append(task)
    show("f", f)

    # A task gone, its record still there (no trim yet), then one more take.
    g = asyncio.Queue()
    task = loop.create_task(one_on(g, ITEMS[900]), name="first")
    await task
    del task
    gc.collect()
    await loop.create_task(one_on(g, ITEMS[901]), name="second")
    show("g", g)

    # Items of every kind taken, then put back (no request: all nobody's).
    k = asyncio.Queue()
    kinds = [None, True, 5, OTHERS["big"], OTHERS["str-a"], OTHERS["tuple"], OTHERS["float"],
             ITEMS[1500]]
    for x in kinds:
        k.put_nowait(x)
    show_items("k put", k)
    for _ in kinds:
        k.get_nowait()
    show_items("k taken", k)
    for x in (5, ITEMS[1500], OTHERS["str-a"], OTHERS["str-b"], ITEMS[1501]):
        k.put_nowait(x)
    show_items("k put back", k)
    # More than the 64 kept.
    for n in range(70):
        k.put_nowait(ITEMS[1600 + n])
    while not k.empty():
        k.get_nowait()
    show_items("k past 64", k)

    # Orders of their own, and a queue changed behind its methods.
    for cls in (asyncio.LifoQueue, asyncio.PriorityQueue):
        o = cls()
        for n in (3, 1, 2):
            o.put_nowait(n)
        o.get_nowait()
        show_items(cls.__name__, o)
    b = asyncio.Queue()
    b.put_nowait(ITEMS[1700])
    b._queue.append(ITEMS[1701])
    b.get_nowait()
    show_items("behind", b)

    # Requests: a keep-alive connection's handler takes in one request,
    # then in the next (its record starts again with the new request).
    r = asyncio.Queue()
    p = asyncio.Queue()
    lq = asyncio.LifoQueue()
    lq.put_nowait(ITEMS[1201])

    async def handle(reader, writer):
        k = 0
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            # One take in the first request (kept with it); three in the
            # second: its second put is no check-in of what it took, and
            # names no one request (the record's request changes twice).
            for _ in range(1 if k == 0 else 3):
                r.put_nowait(ITEMS[1000 + k])
                await r.get()
                k += 1
            # Check-ins: in its first request it takes an object and a
            # string; in its second it puts both back and a new object.
            if k == 1:
                p.put_nowait(ITEMS[1100])
                p.put_nowait(OTHERS["s-1100"])
                p.get_nowait()
                p.get_nowait()
                # A LifoQueue holding an item of nobody's (put at start)
                # and this request's: the take names no one request.
                lq.put_nowait(ITEMS[1200])
                lq.get_nowait()
            else:
                p.put_nowait(ITEMS[1100])
                p.put_nowait(OTHERS["s-1100"])
                p.put_nowait(ITEMS[1101])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, )
    port = srv.sockets[0].getsockname()[1]
    # The client is another process, without the agent.
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, str(port), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    for n in range(2):
        await client.stdout.readline()      # its request n answered
        show("r after request %d" % n, r)
        show_items("p after request %d" % n, p)
        show("lq after request %d" % n, lq)
        show_items("lq after request %d" % n, lq)
        client.stdin.write(b"go\n")     # the next request
    await client.wait()
    srv.close()


async def one_on(q, item):
    q.put_nowait(item)
    await q.get()


asyncio.run(main())
