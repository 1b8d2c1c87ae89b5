"""reqctx: the Python bridge, loaded by the agent through PYTHONPATH
(agent/bridge.c). It does nothing without the agent (libreqctx.so).

asyncio switches between requests in user space: a coroutine resumes from
the loop's ready queue one iteration after the read that completed its
future, so the agent's per-thread context is whatever fd was touched last.
Here asyncio's own machinery decides which request is current and tells the
agent through its explicit API (reqctx_api_*, reached through the
bridge's extension _reqctx, or with ctypes where it cannot load):

- a ContextVar holds the request's snapshot; asyncio copies the current
  contextvars.Context into every Task and every callback handle;
- Handle._run enters the snapshot of the handle's context around every
  callback and task step (no context when it has none);
- a task created where the variable is unset captures the agent's current
  context (the accept or read that just happened);
- whoever consumes the bytes of a connection takes the context the agent
  gave them when they were read (not the replies on a connection the
  program made: the reading task keeps its own): the transport's reader after each read,
  an asyncio StreamReader's reader, aiohttp's request loop when it takes
  the next request of a keep-alive connection;
- an asyncio.Queue item carries the request that put it, which the task
  that gets it takes where that task has no request of its own (a worker);
- a process pool's worker process (ProcessPoolExecutor, multiprocessing's
  Pool) starts in none: it serves every request's jobs;
- ThreadPoolExecutor.submit (so run_in_executor) and threading.Thread.start
  carry the submitter's snapshot into the worker for the job; a thread
  started inside a request keeps it only until it first waits on a
  queue.Queue (a get that may block) or a threading.Condition (a worker
  waiting for work).
- a sys.stdout or sys.stderr over an io.BufferedWriter, which every thread
  fills and any thread may write out, reports each chunk put into it and
  the agent gives each line the context of the thread that put it in
  (the extension's Guard; agent/buffered.h).

Nothing is imported until the program imports asyncio, threading or
concurrent.futures. Then the other sitecustomize on sys.path (Debian's, or
the user's) is run, as if this one were not there.
"""


def _reqctx_bridge():
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))

    # The agent put this directory first in PYTHONPATH; take it out again
    # so the programs this one starts inherit the user's value.
    pp = os.environ.get("PYTHONPATH")
    if pp is not None:
        parts = pp.split(os.pathsep)
        if here in parts:
            parts.remove(here)
            if parts:
                os.environ["PYTHONPATH"] = os.pathsep.join(parts)
            else:
                del os.environ["PYTHONPATH"]

    def chain():
        """Runs the next sitecustomize on sys.path, as `sitecustomize`."""
        import importlib.machinery
        import importlib.util
        path = [p for p in sys.path
                if os.path.abspath(p or ".") != here]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        mod = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception:           # as site.py does for its own import
            import traceback
            sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n")
            traceback.print_exc()

    try:
        import ctypes
        lib = ctypes.CDLL(None)
        fn = {}
        for name, res, arg in (("snapshot", ctypes.c_void_p, []),
                               ("enter", ctypes.c_void_p, [ctypes.c_void_p]),
                               ("leave", None, [ctypes.c_void_p]),
                               ("release", None, [ctypes.c_void_p])):
            f = getattr(lib, "reqctx_api_" + name)
            f.restype, f.argtypes = res, arg
            fn[name] = f
    except (OSError, AttributeError, ImportError):
        chain()
        return
    # Calls an older agent may lack.
    for name, arg in (("enter_inherited", ctypes.c_void_p), ("fd_snapshot", ctypes.c_int)):
        try:
            f = getattr(lib, "reqctx_api_" + name)
            f.restype, f.argtypes = ctypes.c_void_p, [arg]
            fn[name] = f
        except AttributeError:
            pass
    # The same calls from the bridge's extension (_reqctx.c), at a C call's
    # cost: the bridge makes a pair around every asyncio callback.
    try:
        sys.path.insert(0, here)
        try:
            import _reqctx
        finally:
            sys.path.remove(here)
        fn.update(snapshot=_reqctx.snapshot, enter=_reqctx.enter, leave=_reqctx.leave,
                  enter_inherited=getattr(_reqctx, "enter_inherited", _reqctx.enter),
                  release=_reqctx.release, capture=_reqctx.capture,
                  fd_capture=getattr(_reqctx, "fd_capture", None),
                  Guard=getattr(_reqctx, "Guard", None),
                  handle_run=getattr(_reqctx, "handle_run", None),
                  loop_run=getattr(_reqctx, "loop_run", None),
                  task_make=getattr(_reqctx, "task_make", None),
                  taint=getattr(_reqctx, "taint", None))
        if hasattr(_reqctx, "take_rules"):
            fn.update(take_rules=_reqctx.take_rules, take_record=_reqctx.take_record,
                      taker_record=_reqctx.taker_record)
        if hasattr(_reqctx, "task_now_rules"):
            fn.update(task_now_rules=_reqctx.task_now_rules, task_now=_reqctx.task_now)
        if hasattr(_reqctx, "queue_rules"):
            fn.update(queue_rules=_reqctx.queue_rules, put_snap=_reqctx.put_snap,
                      get_snap=_reqctx.get_snap, take_held=_reqctx.take_held)
        if hasattr(_reqctx, "live"):
            fn.update(live=_reqctx.live, vouch=_reqctx.vouch)
        if hasattr(_reqctx, "took"):
            fn.update(progress=_reqctx.progress, took=_reqctx.took, wrote_after=_reqctx.wrote_after)
        if hasattr(_reqctx, "wrote"):
            fn.update(wrote=_reqctx.wrote)
    except ImportError:
        pass
    # More calls an older agent may lack: (key, C name, result, arguments).
    for key, name, res, args in (("bridge_loop", "bridge_loop", None, [ctypes.c_int]),
                                 ("bridge_failed", "bridge_failed", None, []),
                                 ("bridge_vouch", "bridge_vouch", ctypes.c_int, [ctypes.c_int]),
                                 ("live_raw", "live", ctypes.c_int, [ctypes.c_void_p]),
                                 ("progress", "progress", ctypes.c_ulonglong, []),
                                 ("took", "took", ctypes.c_ulonglong, []),
                                 ("wrote", "wrote", None, []),
                                 ("wrote_after", "wrote_after", ctypes.c_int,
                                  [ctypes.c_ulonglong])):
        if key in fn:
            continue
        try:
            f = getattr(lib, "reqctx_api_" + name)
            f.restype, f.argtypes = res, args
            fn[key] = f
        except AttributeError:
            pass
    install_hooks(fn)
    # From here on asyncio's contexts decide: the agent may tag the event
    # loop's lines again (until now it wrote them bare: agent/bridge.h).
    try:
        ready = lib.reqctx_api_bridge_ready
        ready.restype, ready.argtypes = None, []
        ready()
    except AttributeError:
        pass
    chain()


def install_hooks(fn):
    import contextvars
    import sys

    _snapshot, _enter, _leave, _release = (fn["snapshot"], fn["enter"],
                                           fn["leave"], fn["release"])
    bridge_loop = fn.get("bridge_loop")

    # Snapshots owned by Python, released when unreachable, equal when
    # they name one context: the extension's Snap (made and released
    # without a Python call, and given to enter() as it is), else this
    # class through ctypes.
    capture = fn.get("capture")
    _enter_inherited = fn.get("enter_inherited", _enter)
    if capture is not None:
        enter_snap = _enter
        enter_inherited = _enter_inherited
        fd_capture = fn.get("fd_capture")
    else:
        class Snap:
            __slots__ = ("p",)

            def __init__(self, p):
                self.p = p

            def __del__(self, release=_release):
                release(self.p)

            def __eq__(self, other):
                return self.p == other.p if isinstance(other, Snap) else NotImplemented

            def __hash__(self):
                return hash(self.p)

        def capture():
            p = _snapshot()
            return Snap(p) if p else None

        def enter_snap(s):
            return _enter(s.p if isinstance(s, Snap) else None)

        def enter_inherited(s):
            return _enter_inherited(s.p if isinstance(s, Snap) else None)

        fd_capture = None
        if fn.get("fd_snapshot") is not None:
            def fd_capture(fd, _fd_snapshot=fn["fd_snapshot"]):
                p = _fd_snapshot(fd)
                return Snap(p) if p else None

    var = contextvars.ContextVar("reqctx_snapshot")

    def switch(s):
        """Makes s current for the rest of this callback (the enter around
        the callback restores what was current before it)."""
        _release(enter_snap(s))

    def adopt(s):
        """The running code takes s as its request from here on."""
        var.set(s)
        switch(s)

    def named_as(w, orig, name, qualname):
        """Gives the wrapper `w` the name, qualified name and docstring
        of what it stands for, its code's too (3.11: an error about the
        call's arguments, and its traceback line, name the method, not
        the bridge's function)."""
        w.__doc__, w.__name__, w.__qualname__ = orig.__doc__, name, qualname
        mod = getattr(orig, "__module__", None)
        if isinstance(mod, str):
            w.__module__ = mod
        try:
            w.__code__ = w.__code__.replace(co_name=name, co_qualname=qualname)
        except (AttributeError, TypeError, ValueError):
            pass
        return w

    # ---- asyncio -----------------------------------------------------
    def patch_asyncio():
        from asyncio import base_events, events, selector_events, streams

        run = events.Handle._run

        # The loop's thread: its callbacks get their context here, so its
        # epoll events may go out in batches (reqctx_api_bridge_loop).
        run_forever = base_events.BaseEventLoop.run_forever

        def _run_forever(self):
            # A loop already running in this thread: run_forever raises.
            if bridge_loop is None or events._get_running_loop() is not None:
                return run_forever(self)
            bridge_loop(1)
            try:
                return run_forever(self)
            finally:
                bridge_loop(0)

        # What a task carries after it took another request's item while
        # serving one of its own: entered as none, and no request's.
        AMBIGUOUS = 0
        # The queue rules' state of a task (asyncio.Queue, below): whether
        # its request came from a queue item, and its last take (the
        # batch rule).
        from_queue = contextvars.ContextVar("reqctx_from_queue", default=False)
        last_take = contextvars.ContextVar("reqctx_last_take", default=None)

        # A take in a task of the program's own that a task with a request
        # made (await create_task(take()), a TaskGroup's task, a task given
        # to asyncio.wait): what comes back may be another request's item,
        # and the maker awaits it through a future the bridge cannot
        # follow. The maker's context holds a Cell (made at its first
        # create_task in that request), which the tasks it makes share;
        # a task among them that takes another request's item in the
        # maker's request marks the Cell, and each later step of a task
        # whose context holds it, in that request, starts ambiguous
        # (before, the maker kept its request on the item: a trial, 54
        # to 77 of 240 lines). While any Cell is marked, every callback's
        # context is asked (taint_hook); a Cell unmarks when it dies.
        cell_var = contextvars.ContextVar("reqctx_maker_cell", default=None)
        taint_fn = fn.get("taint")
        taint_live = [0]
        # An executor's thread marks a Cell too (task_cell): the count is
        # changed under a lock (reentrant: a collection inside may drop
        # a marked Cell).
        import threading
        taint_lock = threading.RLock()

        def taint(d):
            with taint_lock:
                taint_live[0] += d
                if taint_fn is not None:
                    taint_fn(d)

        class Cell:
            __slots__ = ("owner", "marked", "__weakref__")

            def __init__(self, owner):
                self.owner, self.marked = owner, False

            def __del__(self, taint=taint):
                if self.marked:
                    taint(-1)

        def made():
            """A task with a request of its own makes a task: its Cell."""
            v = var.get(None)
            if v is None or v is AMBIGUOUS or from_queue.get():
                return
            c = cell_var.get(None)
            if c is None or c.owner != v:
                cell_var.set(Cell(v))

        def mark_maker(cur):
            """The running task, in request `cur`, took another request's
            item: the tasks sharing its Cell in that request are told."""
            c = cell_var.get(None)
            if c is not None and not c.marked and c.owner == cur:
                c.marked = True
                taint(1)

        def ambiguous(cur):
            """The running task, in request `cur`, took another request's
            item, or will be given one through a future: none from here
            (until its reader brings its next request: ambiguous_over),
            and the tasks sharing its Cell are told."""
            ambiguous_over.set(cur)
            adopt(AMBIGUOUS)
            mark_maker(cur)

        def taint_hook(ctx):
            c = ctx.get(cell_var)
            if c is None or not c.marked:
                return
            v = ctx.get(var)
            if v is not None and v is not AMBIGUOUS and v == c.owner:
                ctx.run(ambiguous_over.set, v)
                ctx.run(var.set, AMBIGUOUS)

        # Through ctypes: one Python frame and two C calls per callback. A
        # _context that is not a Context (a stand-in some program made)
        # names no request.
        Context = type(contextvars.copy_context())

        def _run(self):
            ctx = self._context
            if taint_live[0] > 0 and type(ctx) is Context:
                taint_hook(ctx)
            prev = enter_snap(ctx.get(var) if type(ctx) is Context else None)
            try:
                run(self)
            finally:
                _leave(prev)

        # With the extension: both as methods of C (no Python frame; a
        # failing callback goes to asyncio's own `run`, which reports it;
        # a handle it does not know how to run goes to _run). One
        # interpreter of the process has them; another (a
        # sub-interpreter's asyncio) keeps the Python wrappers.
        loop_run, handle_run = fn.get("loop_run"), fn.get("handle_run")
        fast_loop = fast_run = None
        if loop_run is not None and handle_run is not None and bridge_loop is not None:
            try:
                fast_run = handle_run(events.Handle, run, _run, var, Context, taint_hook)
                fast_loop = loop_run(base_events.BaseEventLoop, run_forever)
            except RuntimeError:
                fast_run = fast_loop = None
        base_events.BaseEventLoop.run_forever = fast_loop or _run_forever
        events.Handle._run = fast_run or _run

        # The transport's reader callback: after each read, the agent's
        # context (that connection's request, or none when the
        # connection carries none: pipelined requests) becomes its
        # context's, so what data_received schedules or creates inherits
        # it. During the read the variable is unset: a task that
        # data_received creates (uvicorn's h11 protocol makes one per
        # request) captures the request just read, not the one the
        # connection's previous read left (a trial: each keep-alive
        # request's task logged the previous request's ID), and a callback
        # it schedules runs in none rather than in that previous request.
        T = selector_events._SelectorSocketTransport
        read_ready = T._read_ready

        # The protocol's data_received (a BufferedProtocol's
        # buffer_updated) runs in the request just read
        # (the agent's context after the read): a callback it schedules
        # (loop.call_later, call_soon) copies that context, so it runs in
        # that request too (a trial: a Protocol that answers from
        # call_later, 18,707 of 18,707 reply lines bare). Each protocol
        # class is wrapped once, the first time one of its transports
        # reads; not asyncio's own (a StreamReader takes its bytes'
        # context itself, above).
        received_seen = set()

        def wrap_received(cls):
            received_seen.add(cls)
            if (getattr(cls, "__module__", "") or "").startswith("asyncio."):
                return
            # data_received(data), or a BufferedProtocol's
            # buffer_updated(nbytes)
            for name in ("data_received", "buffer_updated"):
                orig = getattr(cls, name, None)
                if orig is None or getattr(orig, "_reqctx_orig", None) is not None:
                    continue

                def received(self, arg, orig=orig):
                    if var.get(None) is None:
                        s = capture()
                        if s is not None:
                            var.set(s)
                    return orig(self, arg)
                received._reqctx_orig = orig
                received.__name__ = getattr(orig, "__name__", name)
                received.__qualname__ = getattr(orig, "__qualname__", name)
                received.__doc__ = getattr(orig, "__doc__", None)
                try:
                    setattr(cls, name, received)
                except (AttributeError, TypeError):
                    pass

        def _read_ready(self):
            if var.get(None) is not None:
                var.set(None)
            cls = type(getattr(self, "_protocol", None))
            if cls not in received_seen:
                wrap_received(cls)
            try:
                read_ready(self)
            finally:
                var.set(capture())
        T._read_ready = _read_ready

        # The loop's socket calls (loop.sock_recv, sock_recv_into): a
        # task that reads its connection with them takes the request the
        # read began, as a transport's reader does (before, a task per
        # keep-alive connection logged each later request with the
        # connection's first request's ID: a trial, up to 147 of 480
        # lines). The read itself may run in a callback of its own, so
        # the fd's context is asked after it (none: kept).
        if fd_capture is not None:
            L = selector_events.BaseSelectorEventLoop

            def sock_reading(name):
                orig = getattr(L, name, None)
                if orig is None:
                    return

                async def wrapper(self, sock, *args):
                    r = await orig(self, sock, *args)
                    if r:
                        try:
                            s = fd_capture(sock.fileno())
                        except (AttributeError, OSError, ValueError):
                            s = None
                        if s is not None and s != var.get(None):
                            adopt(s)
                    return r
                wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = \
                    name, orig.__qualname__, orig.__doc__
                setattr(L, name, wrapper)
            sock_reading("sock_recv")
            sock_reading("sock_recv_into")

        # StreamReader: bytes fed carry the context they were read in (none
        # included); a coroutine that reads them takes it, if it was
        # serving this reader's previous request (or none). Not on a
        # connection the program made (below).
        SR = streams.StreamReader
        sr_init, feed = SR.__init__, SR.feed_data
        unfed = object()
        # The request a task served when a take of another request's item
        # made it ambiguous (below, asyncio.Queue): the next request its
        # reader brings is its own again, as if it had served that one.
        ambiguous_over = contextvars.ContextVar("reqctx_ambiguous_over", default=None)

        def _sr_init(self, *a, **k):
            sr_init(self, *a, **k)
            self._reqctx_owner = var.get(None)
            self._reqctx_fed = unfed

        def _feed(self, data):
            self._reqctx_fed = capture()
            feed(self, data)

        def take(self):
            s = self.__dict__.get("_reqctx_fed", unfed)
            if s is unfed or self.__dict__.get("_reqctx_outbound"):
                return
            cur = var.get(None)
            if cur == s:
                return
            owner = self.__dict__.get("_reqctx_owner")
            # Ambiguous: the task took another request's item while serving
            # this reader's (ambiguous_over), or holds a batch of the
            # readers it serves (a worker that takes connections from a
            # queue, the reader made in no request): the request the
            # reader brings is the task's.
            if cur is None or cur == owner or (cur is AMBIGUOUS and (
                    owner is None or ambiguous_over.get() == owner)):
                self._reqctx_owner = s
                adopt(s)
                made()
        SR.__init__, SR.feed_data = _sr_init, _feed

        # A reader of a connection the program made (open_connection: a
        # StreamReaderProtocol with no client_connected_cb) brings the
        # replies to the program's own calls: the task that reads them
        # keeps its own request, or none. The agent's context for those
        # bytes is the socket's tag, the request that wrote on it last: a
        # pooled connection a background task borrowed gave it the last
        # request's ID, on its lines and on the calls it made next.
        SRP = streams.StreamReaderProtocol
        srp_init = SRP.__init__

        def _srp_init(self, stream_reader, client_connected_cb=None, *a, **k):
            srp_init(self, stream_reader, client_connected_cb, *a, **k)
            if client_connected_cb is None and stream_reader is not None:
                try:
                    stream_reader._reqctx_outbound = True
                except AttributeError:
                    pass
        _srp_init.__doc__ = srp_init.__doc__
        SRP.__init__ = _srp_init

        # Every read method (read, readline, readuntil, readexactly, async
        # iteration) calls _maybe_resume_transport once it has taken its
        # bytes out of the buffer, in the reading task: the take goes
        # there, and an exception out of a read method passes no frame of
        # the bridge's. Where a Python has no such method, each read
        # method is wrapped instead.
        if hasattr(SR, "_maybe_resume_transport"):
            resume = SR._maybe_resume_transport

            def _maybe_resume_transport(self):
                resume(self)
                take(self)
            _maybe_resume_transport.__qualname__ = resume.__qualname__
            SR._maybe_resume_transport = _maybe_resume_transport
        else:
            def reading(name):
                orig = getattr(SR, name)

                async def wrapper(self, *a, **k):
                    r = await orig(self, *a, **k)
                    take(self)
                    return r
                wrapper.__name__ = name
                wrapper.__qualname__ = orig.__qualname__
                wrapper.__doc__ = orig.__doc__
                setattr(SR, name, wrapper)
            for name in ("readline", "readuntil", "readexactly", "read"):
                reading(name)

        # asyncio.Queue: an item carries the request of the code that put
        # it (none, or AMBIGUOUS, included), except when that task took
        # from the queue before in the same request (or tried to, or asked
        # empty()): then the put gives back what it took (an object
        # pool's check-in) and names nobody. The task that gets it takes that where the
        # task has no request of its own: it had none (a worker started
        # with the program), or the one it has came from the queue (the
        # previous job). A task with a request of its own keeps it when the
        # item names the same or none (a stream fed by a background
        # task); an item of another request makes it ambiguous (a worker
        # started lazily inside one request, taking another's job; or a
        # request's task taking what another request broadcast), and the
        # task carries none until its reader brings the next request
        # (StreamReader, above). Only the FIFO queue's order is
        # followed; a LifoQueue's, a PriorityQueue's or a queue changed
        # behind its methods name none.
        import collections
        from asyncio import queues
        Q = queues.Queue
        put_nowait, get_nowait, qsize = Q.put_nowait, Q.get_nowait, Q.qsize
        fifo = (Q._put, Q._get)

        import threading
        import weakref
        from asyncio import tasks
        current_task = tasks.current_task
        # The running task, or None: asyncio.current_task() where it is
        # C (3.12 on), else its table read directly with this thread's
        # running loop kept in a thread-local while it runs (3.11's
        # current_task is Python, and asyncio's _get_running_loop alone
        # was measured at 1.6 us a call here: on every take).
        running_loop = events._get_running_loop
        current_tasks = getattr(tasks, "_current_tasks", None)
        if type(current_task) is not type(len) and isinstance(current_tasks, dict):
            here = threading.local()
            get_ident = threading.get_ident

            def runs_here(loop):
                """Whether `loop` runs in this thread: its _thread_id (set
                by run_forever), else is_running() (before, a loop kept
                while it ran in another thread named that thread's task)."""
                tid = getattr(loop, "_thread_id", here)
                return loop.is_running() if tid is here else tid == get_ident()

            def task_now():
                ref = getattr(here, "loop", None)    # weak: a loop dies as it would
                loop = ref() if ref is not None else None
                if loop is None or not runs_here(loop):
                    loop = running_loop()
                    if loop is None:
                        return None
                    here.loop = weakref.ref(loop)
                return current_tasks.get(loop)
            # The same in the extension: the loop kept per thread, asked
            # its _thread_id (about 1,700 instructions a call in Python,
            # three or four calls a put and take).
            task_now_rules = fn.get("task_now_rules")
            if task_now_rules is not None:
                task_now_rules(running_loop, current_tasks)
                task_now = fn["task_now"]
        else:
            def task_now():
                try:
                    return current_task()
                except RuntimeError:
                    return None

        # A task that gives a job to an executor (ThreadPoolExecutor.submit:
        # run_in_executor, asyncio.to_thread) may get another request's
        # item back from it: a get inside a function of the program's own
        # (lambda: q.get(), to_thread(f)) takes from a thread queue in the
        # executor's thread, and the task awaits its result through a
        # future of C. The job is given the task's Cell; where its thread
        # took from a job queue and no longer has the task's request after
        # it, it marks the Cell before its result is handed back, and the
        # task's next step starts ambiguous (taint_hook). Before, the
        # task kept its request on the item: t_swap "execfn" and
        # "tothreadfn", 79 and 63 of 320 lines wrong.
        def task_cell():
            if task_now() is None:
                return None
            made()
            c = cell_var.get(None)
            return c if c is not None and c.owner == var.get(None) else None

        def mark_cell(c):
            if not c.marked:
                c.marked = True
                taint(1)
        waits["task_cell"], waits["mark_cell"] = task_cell, mark_cell
        waits["task_now"] = task_now

        ANY = object()          # a consumer's take: any later put is a check-in
        NOT_TAKEN = object()
        IDS_KEPT = 4
        TAKERS_KEPT = 256

        def taker(q, t, make):
            """The record [task's weak reference, request, ids...] of task
            `t` on `q` (keyed by id(t): a dict lookup, no weak-keyed
            dictionary's reference made per call), or None."""
            takers = q.__dict__.get("_reqctx_takers")
            if takers is None:
                if not make:
                    return None
                takers = q._reqctx_takers = {}
            rec = takers.get(id(t))
            if rec is not None and rec[0]() is not t:
                del takers[id(t)]          # a task gone, its id reused
                rec = None
            if rec is None and make:
                if len(takers) >= TAKERS_KEPT:
                    for k in [k for k, r in takers.items() if r[0]() is None]:
                        del takers[k]
                    if len(takers) >= TAKERS_KEPT:
                        del takers[next(iter(takers))]
                rec = takers[id(t)] = [weakref.ref(t), NOT_TAKEN]
            return rec

        def took(q, item=NOT_TAKEN):
            """The running task took `item` from `q`, or tried to (a get
            of an empty queue, or it asked empty()): what it puts there
            later may give back what it took (checks_in). Kept with the
            request the task has now, or ANY for a consumer (its request
            is the item's, and changes with each), and the id()s of the
            last IDS_KEPT items it took since that changed."""
            t = task_now()
            if t is not None:
                req = ANY if from_queue.get() else var.get(None)
                rec = taker(q, t, True)
                if rec[1] is not req and rec[1] != req:
                    del rec[1:]
                    rec.append(req)
                if item is not NOT_TAKEN:
                    if len(rec) > IDS_KEPT + 1:
                        del rec[2]
                    rec.append(id(item))

        # The same two in the extension, at one C call's cost (a take ran
        # them two or three times: about 400 ns each in Python).
        take_rules = fn.get("take_rules")
        if take_rules is not None:
            take_rules(task_now, from_queue, var, ANY, NOT_TAKEN, IDS_KEPT, TAKERS_KEPT)
            took, taker = fn["take_record"], fn["taker_record"]

        def checks_in(q, cur, item):
            """What the running task's put of `item` on `q`, in request
            `cur`, names as a check-in (an object pool's, a session
            returned), or NOT_TAKEN where it is none: the task took from
            `q` in this same request, or is a consumer that took from it
            before. The very object it took there (an id() it took and
            still holds) names nobody; anything else no one request's
            (AMBIGUOUS). A keep-alive handler's put in a later request
            than its take is that request's."""
            if not q.__dict__.get("_reqctx_takers"):
                return NOT_TAKEN
            t = task_now()
            rec = taker(q, t, False) if t is not None else None
            if rec is None:
                return NOT_TAKEN
            i = id(item)
            if cur is AMBIGUOUS:
                # An ambiguous task giving back the very object it took
                # (in whatever request): nobody's, or a pooled object
                # without a weak reference that one such task returned
                # would make every later borrower ambiguous in turn.
                if i in rec[2:]:
                    rec.remove(i)
                    return None
                return NOT_TAKEN
            if not (rec[1] is ANY or rec[1] == cur):
                return NOT_TAKEN
            if i in rec[2:]:
                rec.remove(i)
                return None
            return AMBIGUOUS

        # An object put back where it was taken from (one of the last
        # TAKEN_KEPT taken: a token of a concurrency limit that a
        # request's handler returns after its answer, a pooled object)
        # is not that request's work (a trial: a dispatcher that took a
        # job, then a token a request had returned, gave its job that
        # request's ID: 474 of 800 lines wrong). The same object, known
        # through a weak reference, or None or a bool, names nobody. A
        # small int taken before is no one request's (AMBIGUOUS): a token,
        # or a job numbered like one (a group commit's client slots: the
        # leader, keeping its own request, wrote the others' lines under
        # its ID, a trial, 57 of 160). Other objects (a tuple, a string:
        # their address is soon another's) are not followed. No item is
        # kept alive.
        TAKEN_KEPT = 64

        # Another object (a string, a tuple: no weak reference) is kept by
        # id() with the request that holds it once taken (HELD, filled in
        # by the take): the same request putting it back names nobody
        # (a handler reserves a pooled address and the task its job
        # runs in puts it back).
        HELD = object()

        def taken_key(item):
            t = type(item)
            if item is None or t is bool or (t is int and -5 <= item <= 256):
                return (t, item), None
            # Asked of the type first: an int, a str or a tuple (no weak
            # reference) would otherwise raise and catch a TypeError on
            # every take, about 1 us (make bench, "queues").
            if not t.__weakrefoffset__:
                return id(item), HELD
            try:
                return id(item), weakref.ref(item)
            except TypeError:
                return id(item), HELD

        def returned(q, item):
            """What `item`, put on `q`, names as a thing taken there
            before: None (nobody), AMBIGUOUS (a small int), or NOT_TAKEN."""
            taken = q.__dict__.get("_reqctx_taken")
            if not taken:
                return NOT_TAKEN
            k = taken_key(item)
            if k is None or k[0] not in taken:
                return NOT_TAKEN
            ref = taken.pop(k[0])
            if ref is None:
                return AMBIGUOUS if type(item) is int else None
            if type(ref) is tuple:
                held_in, cur = ref[0], var.get(None)
                ok = held_in is not None and held_in is not AMBIGUOUS and held_in == cur
                return None if ok else NOT_TAKEN
            return None if ref is not HELD and ref() is item else NOT_TAKEN

        # What a put names: the putter's request; nobody where the putter
        # has none; an object taken there before as returned() says; and
        # no one request's (AMBIGUOUS) where the putter is ambiguous, or
        # may be giving back what it took (checks_in, not proven by the
        # object: a pool that made an object when it found none, or a
        # group commit's follower that asked empty() before it put its
        # own item; before, such a put named nobody, and a handler that
        # took it kept its own request on another's item, a trial, 68 of
        # 160 lines).
        def put_snap(self, item):
            """After a put of `item` on queue `self`: what it names,
            appended to the queue's snaps."""
            snaps = self.__dict__.get("_reqctx_snaps")
            if snaps is None:
                snaps = self._reqctx_snaps = collections.deque()
            s = var.get(None)
            r = returned(self, item)
            if s is None:
                pass
            elif r is not NOT_TAKEN:
                s = r
            else:
                c = checks_in(self, s, item)
                if c is not NOT_TAKEN:
                    s = c
            snaps.append(s)

        def get_snap(self, item):
            """The request `item`, just taken from queue `self`, was put
            in (its snap); the item recorded as taken."""
            k = taken_key(item)
            if k is not None:
                taken = self.__dict__.get("_reqctx_taken")
                if taken is None:
                    taken = self._reqctx_taken = {}
                elif len(taken) >= TAKEN_KEPT:
                    del taken[next(iter(taken))]
                taken[k[0]] = k[1]
            snaps = self.__dict__.get("_reqctx_snaps")
            s = None
            if snaps:
                if (type(self)._put, type(self)._get) == fifo and \
                        len(snaps) == qsize(self) + 1:
                    s = snaps.popleft()
                elif len(snaps) == qsize(self) + 1:
                    # An order of its own (a LifoQueue, a PriorityQueue):
                    # which put this item is not known. Nobody's while
                    # every item there is; else no one request's (before,
                    # none, and a group commit's leader on a
                    # PriorityQueue kept its own request on the others'
                    # lines: a trial, 69 of 160). A nobody's entry goes
                    # first, so that a request's stays while it may be
                    # there.
                    try:
                        snaps.remove(None)
                        if any(x is not None for x in snaps):
                            s = AMBIGUOUS
                    except ValueError:
                        snaps.popleft()
                        s = AMBIGUOUS
                else:
                    # The queue changed behind its methods: what is in it
                    # is not known.
                    if any(x is not None for x in snaps):
                        s = AMBIGUOUS
                    snaps.clear()
            return s

        def take_held(self, item):
            """At a take's end: an item with no weak reference records
            the request that took it."""
            k = taken_key(item)
            if k[1] is HELD:
                taken = self.__dict__.get("_reqctx_taken")
                if taken is not None and taken.get(k[0]) is HELD:
                    taken[k[0]] = (var.get(None),)

        # The same three in the extension (make bench, "queues").
        queue_rules = fn.get("queue_rules")
        if queue_rules is not None and take_rules is not None:
            queue_rules(qsize, fifo[0], fifo[1], AMBIGUOUS, HELD, TAKEN_KEPT, collections.deque)
            put_snap, get_snap, take_held = fn["put_snap"], fn["get_snap"], fn["take_held"]

        def _put_nowait(self, item):
            put_nowait(self, item)
            put_snap(self, item)

        def _get_nowait(self):
            # The try (the take of an empty queue) is recorded by the
            # empty() that asyncio's get_nowait asks first (asking, below).
            item = get_nowait(self)
            s = get_snap(self, item)
            cur = var.get(None)
            if cur is not None and cur is not AMBIGUOUS and from_queue.get() and \
                    holds_other(self):
                # A consumer holding another queue's item, in that item's
                # request, takes from this one: an object of a pool (a
                # connection for the job at hand), or another request's
                # work. It keeps its request where the item names the
                # same or none, and is ambiguous otherwise (before, it
                # took the item's: a worker's audit connection, released
                # to the pool by another worker during its job, gave its
                # lines that job's ID, a trial, 2 to 4 of 400). What it
                # holds stays as it was.
                if s is not None and s != cur:
                    adopt(AMBIGUOUS)
            elif cur is None or from_queue.get():
                if batch(s, cur):
                    s = AMBIGUOUS       # what it puts is no one request's either
                if s != cur:
                    adopt(s)
                # Set only where they change: a set makes the context a
                # new mapping (about 100 ns each, on every take).
                if from_queue.get() is not True:
                    from_queue.set(True)
                ref = weakref.ref(self)     # the queue's one plain reference
                if held_from.get() is not ref:
                    held_from.set(ref)
                drained.set(drained.get() + 1)
                if took_api is not None:
                    last_take.set(took_api())   # after adopt's own enter
                elif progress is not None:
                    last_take.set(progress())
            elif s is not None and s != cur and cur is not AMBIGUOUS:
                ambiguous(cur)
            took(self, item)                # in what the task holds it
            take_held(self, item)
            return item

        # The batch rule. A task with no request of its own that takes
        # a second item before it wrote anything about the first (it
        # drains the queue, then writes about each) holds a batch, no
        # one request's work (before, every line carried the request of
        # the last item taken: a trial, 99 of 100 wrong). Told by the
        # thread's writes (reqctx_api_took, reqctx_api_wrote_after):
        # whether it wrote after its last take in that take's step or in
        # the step now running (the thread's writes in the steps between
        # are other tasks'; a step of its own between with a write counts
        # as no write: none rather than a guess; a take whose log is gone,
        # TAKES_KEPT takes of other tasks since, is not known: none for
        # this take only, not a batch from then on: before, a consumer
        # that slept while others took hundreds of items carried none on
        # every later item, t_batch_drain "crowd", 19 of 20, and CI's
        # "took" under load). For a get() that may wait, asked when the
        # get is made.
        # Until a take after it wrote: none. (An older agent: its
        # progress, within one step or in this one.)
        progress = fn.get("progress")
        took_api, wrote_after = fn.get("took"), fn.get("wrote_after")
        if took_api is None or wrote_after is None:
            took_api = wrote_after = None
        in_batch = contextvars.ContextVar("reqctx_in_batch", default=False)
        wrote_at_get = contextvars.ContextVar("reqctx_wrote_at_get", default=None)
        M32 = 0xffffffff
        NOT_KNOWN = "not known"

        def wrote_since_take():
            """Whether the task wrote since its last take: in the same
            step, the thread's writes since; in a later one, the writes of
            this step so far (between steps they are other tasks').
            NOT_KNOWN (true) when the take's log is gone."""
            before = last_take.get()
            if before is None:
                return True
            if wrote_after is not None:
                w = wrote_after(before)
                return NOT_KNOWN if w < 0 else w > 0
            now = progress()
            if (now >> 32) == (before >> 32):
                return (now & M32) != (before & M32)
            return (now & M32) != 0

        def batch(s, cur):
            if progress is None:
                return False
            wrote = wrote_at_get.get()
            if wrote is None:            # get_nowait called by the program
                wrote = wrote_since_take()
            # Once a batch, always: a consumer that held several items at
            # once may hold some still when it takes the next after a
            # line (a reorder buffer that writes each item once the one
            # before it came: a trial, 15 to 26 of 320 lines with the
            # ID of the item that completed the run).
            was = in_batch.get()
            if wrote is NOT_KNOWN:
                return was or (from_queue.get() and s != cur)
            held = from_queue.get() and (was or (not wrote and s != cur))
            if held != was:
                in_batch.set(held)
            return held

        get = Q.get

        async def _get(self):
            # Asked when the get is made, before it may wait: a consumer
            # that collects items with waiting gets before it writes holds
            # a batch as one that drains them (the take itself comes in
            # the step the put wakes, which says nothing of the task).
            token = wrote_at_get.set(wrote_since_take() if progress is not None else True)
            # A get that will wait: the task is done with what it held
            # (idle: what it writes on a timeout is nobody's).
            if qsize(self) == 0:
                emptied(self, True)
            try:
                return await get(self)
            finally:
                wrote_at_get.reset(token)
        _get.__doc__, _get.__name__, _get.__qualname__ = get.__doc__, "get", "Queue.get"
        Q.get = _get

        create_task = base_events.BaseEventLoop.create_task

        # A task made by a task that holds a queue item acts on that item,
        # as a line about it would (the batch rule): a dispatcher that
        # takes each job and makes a task for it, with no line of its own,
        # is no batch (before, every job after its first ran in none: a
        # trial, 79 of 80 jobs' lines bare). Not one made with a context
        # given (the bridge's wait_for makes its inner task so).
        #
        # A task made for a take (ensure_future(q.get()), gather or shield
        # of one, a q.get() given to asyncio.wait) takes for its maker,
        # where that take cannot be carried back (the maker awaits a
        # future of C): the maker, holding a request, is ambiguous from
        # here (before, it kept its request, or its previous job's, on the
        # item it then received: a trial, 8 to 32 of 320 lines).
        get_code = _get.__code__

        def child_get():
            cur = var.get(None)
            if cur is not None and cur is not AMBIGUOUS:
                ambiguous(cur)

        #
        # A task made where the maker's request came from a queue item (a
        # dispatcher's task for its job) inherits that request but not the
        # consumer state: its own takes are those of a task with a request
        # of its own (so is one made in a callback whose context has it: a
        # server's connection tasks, in a context copied from a task that
        # took from a queue at start-up; before, they took every item's
        # request as consumers, a trial, 199 of 310 lines wrong).
        def _create_task(self, coro, *, name=None, context=None):
            fq = False
            if context is None:
                made()
                fq = from_queue.get()
                if fq and last_take.get() is not None:
                    last_take.set(None)
                if getattr(coro, "cr_code", None) is get_code:
                    child_get()
            if context is None and var.get(None) is None:
                s = capture()
                if s is not None:
                    context = contextvars.copy_context()
                    context.run(var.set, s)
            if fq:
                if context is None:
                    context = contextvars.copy_context()
                context.run(from_queue.set, False)
            if context is None:
                return create_task(self, coro, name=name)
            return create_task(self, coro, name=name, context=context)
        # With the extension, in C: no frame of the bridge's in a task's
        # debug-mode "created at".
        task_make = fn.get("task_make")
        fast_task = None
        if task_make is not None:
            try:
                fast_task = task_make(base_events.BaseEventLoop, create_task, var,
                                      contextvars.copy_context, from_queue, last_take,
                                      get_code, child_get, made)
            except RuntimeError:
                pass
        base_events.BaseEventLoop.create_task = fast_task or _create_task

        # An async generator dropped unfinished is closed by a task its
        # finalizer makes (asyncio's hook, called where the collector or
        # the last reference's drop found it): that task ran in the
        # request whose code happened to run then (a trial: 76 of 236
        # lines wrong). It is made in a copy of the current context with
        # the bridge's variables cleared, so it runs with none; the
        # program's own context variables are as asyncio leaves them (a
        # fresh Context, tried first, hid them from the generator's
        # finally: a trial).
        agen_hook = getattr(base_events.BaseEventLoop, "_asyncgen_finalizer_hook", None)
        if agen_hook is not None:
            def _asyncgen_finalizer_hook(self, agen):
                ctx = contextvars.copy_context()
                if var in ctx or from_queue in ctx:
                    ctx.run(var.set, None)
                    ctx.run(from_queue.set, False)
                    ctx.run(cell_var.set, None)
                prev = _enter(None)
                try:
                    ctx.run(agen_hook, self, agen)
                finally:
                    _leave(prev)
            _asyncgen_finalizer_hook.__qualname__ = agen_hook.__qualname__
            base_events.BaseEventLoop._asyncgen_finalizer_hook = _asyncgen_finalizer_hook

        # The same for a thread queue's get run in an executor
        # (run_in_executor(None, q.get)): the take is the executor
        # thread's, and the awaiting task, holding a request, is ambiguous
        # from here (before, it kept its request on another request's
        # result: a trial, 54 of 235 lines wrong).
        run_in_executor = base_events.BaseEventLoop.run_in_executor

        def _run_in_executor(self, executor, func, *args):
            f = getattr(func, "func", func)         # a functools.partial
            if type(getattr(f, "__self__", None)) is Context and getattr(func, "args", None):
                f = func.args[0]                    # asyncio.to_thread: partial(ctx.run, f)
            if getattr(f, "__name__", None) in ("get", "_get"):  # the bridge's own is _get
                qm = sys.modules.get("queue")
                if qm is not None and isinstance(getattr(f, "__self__", None),
                                                  (qm.Queue, getattr(qm, "SimpleQueue", qm.Queue))):
                    child_get()
            # The job's future -> the asyncio future its task awaits, if it
            # does (job_sleep, job_wait: an awaited job keeps its request).
            # Cleared first: an executor not the bridge's (a process pool)
            # makes no job, and an earlier submit's must not be mapped.
            st = waits.get("local")
            if st is not None:
                st.last_job = None
            r = run_in_executor(self, executor, func, *args)
            job = getattr(st, "last_job", None)
            if job is not None:
                st.last_job = None
                try:
                    waits["async_of"][job] = weakref.ref(r)
                except TypeError:
                    pass
            return r
        _run_in_executor.__doc__, _run_in_executor.__qualname__ = \
            run_in_executor.__doc__, run_in_executor.__qualname__
        base_events.BaseEventLoop.run_in_executor = _run_in_executor
        _put_nowait.__doc__, _get_nowait.__doc__ = put_nowait.__doc__, get_nowait.__doc__
        _put_nowait.__name__, _get_nowait.__name__ = "put_nowait", "get_nowait"
        _put_nowait.__qualname__, _get_nowait.__qualname__ = "Queue.put_nowait", "Queue.get_nowait"
        Q.put_nowait, Q.get_nowait = _put_nowait, _get_nowait

        # The end of a drain. A task holding the item it took from `q`,
        # having taken more than one since it last found `q` empty, finds
        # it empty (empty() true, qsize() 0, a get_nowait that raises
        # QueueEmpty, a get() about to wait): what it writes from here is
        # about every item it drained, or about none (a flusher that takes
        # and logs each item in turn, then writes about them all), not the
        # last one's. None until its next take (before, the lines after
        # such a drain carried the last item's request: a trial, up to 70
        # of 150 wrong). One item taken since: the lines are about it. A
        # put's full() asking its own qsize() is no such look.
        held_from = contextvars.ContextVar("reqctx_held_from", default=None)
        drained = contextvars.ContextVar("reqctx_drained", default=0)
        class InFull(threading.local):
            on = False      # the default on its class: no AttributeError made
        in_full = InFull()

        def holds_other(q):
            """Whether the running task holds an item of a queue other
            than `q`, still alive."""
            ref = held_from.get()
            if ref is None:
                return False
            h = ref()
            return h is not None and h is not q

        def emptied(q, waits=False):
            ref = held_from.get()
            if ref is None or ref() is not q or in_full.on:
                return
            n = drained.get()
            if n <= 1:
                # Holding one item from q, it finds q empty: it still
                # holds that item, so its next take is a second since it
                # last found q empty (before, a consumer that took one,
                # waited or polled for another, then drained and wrote
                # about both wrote the first's lines with the second's
                # ID: t_batch_drain "waited_done", 12 of 80). Idle in a
                # get() (asyncio's own asks empty() before it waits):
                # nobody's while it waits.
                if (waits or wrote_at_get.get() is not None) and \
                        var.get(None) is not None and from_queue.get():
                    adopt(None)
                return
            held_from.set(None)
            drained.set(0)
            if n > 1 and var.get(None) is not None and from_queue.get():
                # Drained several: what it writes or puts is about them
                # all (no one request's).
                adopt(AMBIGUOUS)

        # asyncio.wait_for before 3.12 runs a coroutine in a task of its
        # own: a take there (wait_for(q.get(), timeout), a consumer with
        # an idle timeout) was that task's, and the consumer kept the
        # job it took before (a trial: every later line carried its
        # first job's ID, 159 of 320 wrong). What the inner task's takes
        # left is carried back to the caller when it ends.
        if sys.version_info < (3, 12) and hasattr(tasks, "wait_for"):
            from asyncio import coroutines
            wait_for = tasks.wait_for
            carried = ((var, None), (from_queue, False), (last_take, None), (in_batch, False),
                       (held_from, None), (drained, 0))

            async def _wait_for(fut, timeout):
                if not coroutines.iscoroutine(fut) or current_task() is None:
                    return await wait_for(fut, timeout)
                if timeout is not None:
                    try:
                        timeout <= 0
                    except Exception:   # wait_for's own error, as without the bridge
                        return await wait_for(fut, timeout)
                box = []
                # The caller's writes since its last take are its own
                # (the batch rule asks them of the inner task's steps).
                if progress is not None and last_take.get() is not None and wrote_since_take() is True:
                    last_take.set(None)

                async def inner():
                    try:
                        return await fut
                    finally:
                        box.append(contextvars.copy_context())
                # Made here, in a copy of the caller's context given as
                # such: no task the caller makes for an item it holds (the
                # batch rule, create_task). Before 3.11 (no context=),
                # wait_for makes it.
                aw = inner()
                if sys.version_info >= (3, 11):
                    aw = events.get_running_loop().create_task(
                        aw, context=contextvars.copy_context())
                try:
                    return await wait_for(aw, timeout)
                finally:
                    if not box and hasattr(aw, "cancel") and not aw.done():
                        # wait_for raised before it took the inner task (a
                        # timeout it cannot compare): that task never
                        # runs, and the program's coroutine is left
                        # unstarted, as wait_for leaves it.
                        aw.cancel()
                    elif not box:
                        # The inner task was cancelled before it ran
                        # (a timeout of 0 or less): the program's
                        # coroutine was never started, as wait_for
                        # leaves it (no "never awaited" warning).
                        fut.close()
                    elif box[0].get(from_queue, False):
                        c = box[0]
                        s = c.get(var, None)
                        for v, default in carried[1:]:
                            v.set(c.get(v, default))
                        if s != var.get(None):
                            adopt(s)
                    elif box[0].get(var, None) is AMBIGUOUS and var.get(None) is not AMBIGUOUS:
                        # The inner task, in the caller's request, took
                        # another request's item: so did the caller (a
                        # long-poll handler waiting on its mailbox with a
                        # timeout: before, it wrote the message's line
                        # under its own ID, a trial, 24 of 320 lines).
                        ambiguous(var.get(None))
            _wait_for.__doc__, _wait_for.__name__, _wait_for.__qualname__ = \
                wait_for.__doc__, "wait_for", "wait_for"
            tasks.wait_for = _wait_for
            import asyncio
            if getattr(asyncio, "wait_for", None) is wait_for:
                asyncio.wait_for = _wait_for

        def asking(name, empty, tries):
            orig = getattr(Q, name)

            def wrapper(self):
                if tries:
                    took(self)
                r = orig(self)
                if r == empty:
                    emptied(self)
                return r
            wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = \
                name, orig.__qualname__, orig.__doc__
            setattr(Q, name, wrapper)
        # empty() is a checkout tried (a pool that makes an object when
        # it is empty); qsize() is not: a put to a bounded queue asks it
        # (through full()), and so may a producer checking its backlog.
        asking("empty", True, True)
        asking("qsize", 0, False)
        full = Q.full

        def _full(self):
            was = in_full.on
            in_full.on = True
            try:
                return full(self)
            finally:
                in_full.on = was
        _full.__name__, _full.__qualname__, _full.__doc__ = "full", full.__qualname__, full.__doc__
        Q.full = _full

    # ---- aiohttp: the next request of a keep-alive connection ----------
    def patch_aiohttp():
        import collections
        from aiohttp import web_protocol

        deque = collections.deque
        d_append, d_popleft, d_clear = deque.append, deque.popleft, deque.clear

        class Messages(deque):
            """aiohttp's queue of parsed requests, each with the context
            the agent gave its bytes; the request loop takes it with it.
            (deque's methods are called as they are: super() makes an
            object per call.)"""

            def __init__(self, *a):
                deque.__init__(self, *a)
                self.snaps = deque()

            def append(self, item):
                d_append(self, item)
                self.snaps.append(capture())

            def popleft(self):
                item = d_popleft(self)
                snaps = self.snaps
                if snaps:
                    s = snaps.popleft()      # none: its bytes carried none
                    if s != var.get(None):
                        adopt(s)
                return item

            def clear(self):
                d_clear(self)
                self.snaps.clear()

        RH = web_protocol.RequestHandler
        init = RH.__init__

        def _init(self, *a, **k):
            init(self, *a, **k)
            self._messages = Messages(self._messages)
        RH.__init__ = _init

    # ---- Tornado -----------------------------------------------------
    def patch_tornado():
        """Tornado serves each connection in one coroutine, a task made
        with the connection's first request: its later requests' heads
        come through Tornado's own IOStream, which none of asyncio's
        readers above see. When the connection's coroutine has parsed a
        request's head, it takes the request the agent gave that head
        (the connection's: reqctx_api_fd_snapshot), if it was serving the
        connection's previous request or none; the handler's coroutine,
        made from there, inherits it. Before, every later request of a
        keep-alive connection logged its first request's ID (a trial:
        1,020 of 1,400 lines wrong). Not on a connection the program
        made (Tornado's HTTP client: is_client)."""
        from tornado import http1connection

        if fd_capture is None:
            raise RuntimeError("no fd snapshots")
        H = http1connection.HTTP1Connection
        parse = H._parse_headers
        unowned = object()

        def _parse_headers(self, data):
            r = parse(self, data)
            if not self.is_client:
                try:
                    fd = self.stream.fileno()
                    fd = fd if isinstance(fd, int) else fd.fileno()
                except (AttributeError, OSError, ValueError):
                    return r
                # One HTTP1Connection per request; the stream is the
                # connection's.
                # Its first head: the coroutine was made at the accept, in
                # the connection's accept-time context, which the head
                # renames or, pipelined (none), drops (a trial: two
                # pipelined requests both logged the accept-time ID).
                stream = self.stream
                s = fd_capture(fd)
                cur = var.get(None)
                owner = stream.__dict__.get("_reqctx_owner", unowned)
                if s != cur and (cur is None or owner is unowned or cur == owner):
                    adopt(s)
                stream._reqctx_owner = s
            return r
        _parse_headers.__doc__ = parse.__doc__
        H._parse_headers = _parse_headers

    # ---- threads -----------------------------------------------------
    def patch_futures():
        import weakref
        from concurrent.futures import _base, thread

        submit = thread.ThreadPoolExecutor.submit
        # A thread (not an asyncio task) that waits for its job's result
        # (pool.submit(f).result(), executor.map): a job that took from a
        # job queue and was left with another context than the
        # submitter's after it took another request's item, or one no one
        # knows: a waiter with a request (the submitter's, or another's
        # that was handed the future) carries none from the result on
        # (before, it kept its request on the item: t_swap "threadexec",
        # 70 of 320 lines wrong). Kept beside the futures, not on them: a
        # Future's attributes are the program's. Only moved jobs' futures
        # are entered, by whichever of the job and its submit() comes
        # second: the common job costs its waiter nothing here.
        # Future -> [whether the job moved]
        jobs_of = weakref.WeakKeyDictionary()
        local = waits.get("local")
        if local is None:           # the threading bridge is not in place
            class local:            # noqa: N801 - stands in for its state
                gets = 0
                job = job_joined = last_job = None
                own_wait = False

        def _submit(self, fn, /, *args, **kwargs):
            # The agent's current context is the submitter's request: it
            # follows the thread's I/O, and inside asyncio callbacks it is
            # the task's (Handle._run entered it).
            guard_streams()
            s = capture()
            if s is None:
                # Its worker's take (the queue bridge's SimpleQueue) left
                # it with none.
                return submit(self, fn, *args, **kwargs)
            # An asyncio task's job: its Cell (patch_asyncio, task_cell).
            # Any asyncio task's job (a queue's consumer has no Cell):
            # run_in_executor maps its future, and a task awaiting that
            # keeps the job on its request (joined). The running task
            # looked up once where no task runs (a thread's submit).
            tn, tc = waits.get("task_now"), waits.get("task_cell")
            in_task = tn is not None and tn() is not None
            cell = tc() if in_task and tc is not None else None
            moved = [False]
            made = [None]           # the future, once submit() returned it

            def joined():
                """Whether the job's submitter waits for it: a thread of its
                request in result() or exception(), or, for an asyncio
                task's job, a task awaiting its asyncio future (one made by
                run_in_executor; asyncio.to_thread too)."""
                f = made[0]
                if f is None:
                    return False
                # Only while that request is in progress: a supervisor
                # waiting on a loop's future for as long as it runs (a
                # thread in result(), a task awaiting it) would keep the
                # loop on its request for good (a trial: 29 of 30 lines
                # of later requests' items with the first's ID;
                # t_exec_jobs "asup").
                if live is not None and not live(s):
                    return False
                if in_task:
                    r = async_of.get(f)
                    a = r() if r is not None else None
                    if a is not None and task_awaits(a):
                        return True
                    if cell is not None:
                        return False
                # A consumer task's job was kept only while a thread waited
                # in result(): its sleep ended the item's request (a
                # trial: 200 of 200 lines bare).
                return awaited_by.get(f) == s

            def job(*a, **k):
                prev = enter_snap(s)
                tok = var.set(s)
                took = local.gets
                was = local.job, local.job_joined
                local.job, local.job_joined = s, joined
                try:
                    return fn(*a, **k)
                finally:
                    local.job, local.job_joined = was
                    if local.gets != took and capture() != s:
                        if cell is not None:
                            waits["mark_cell"](cell)
                        else:
                            moved[0] = True     # before the result is set
                            if made[0] is not None:
                                jobs_of[made[0]] = moved
                    var.reset(tok)
                    _leave(prev)
            f = submit(self, job, *args, **kwargs)
            made[0] = f
            if cell is None and moved[0]:
                jobs_of[f] = moved
            if in_task:
                local.last_job = f      # run_in_executor maps it to its asyncio future
            return f
        named_as(_submit, submit, "submit", submit.__qualname__)
        thread.ThreadPoolExecutor.submit = _submit

        result = _base.Future.result

        # Future -> the request of a thread waiting in its result() or
        # exception() (a job's sleep and waits: job_sleep, job_wait).
        awaited_by = weakref.WeakKeyDictionary()
        async_of = waits.setdefault("async_of", weakref.WeakKeyDictionary())

        def task_awaits(a):
            """Whether an asyncio task awaits future `a`: a task's wake-up
            among its callbacks (run_in_executor's chaining adds one of
            its own, a program's add_done_callback others: neither is an
            await, and a fire-and-forget job has no task's)."""
            tasks = sys.modules.get("asyncio.tasks")
            task = getattr(tasks, "Task", None)
            if task is None:
                return False
            for e in getattr(a, "_callbacks", None) or ():
                cb = e[0] if type(e) is tuple else e
                if isinstance(getattr(cb, "__self__", None), task):
                    return True
            return False

        def awaits(f):
            """This thread begins to wait for future f: noted for f's job
            (job_sleep, job_wait). Returns what awaited() restores."""
            s = capture()
            if s is not None:
                awaited_by[f] = s
            was, local.own_wait = local.own_wait, True
            return s, was

        def awaited(f, token):
            local.own_wait = token[1]
            if token[0] is not None:
                awaited_by.pop(f, None)

        def _result(self, timeout=None):
            t = awaits(self)
            try:
                return result(self, timeout)
            finally:
                awaited(self, t)
                m = jobs_of.get(self) if jobs_of else None
                if m is not None and m[0] and capture() is not None:
                    become(None)
        named_as(_result, result, "result", result.__qualname__)
        _base.Future.result = _result

        exception = _base.Future.exception

        def _exception(self, timeout=None):
            t = awaits(self)
            try:
                return exception(self, timeout)
            finally:
                awaited(self, t)
        named_as(_exception, exception, "exception", exception.__qualname__)
        _base.Future.exception = _exception

    waits = {}

    def patch_threading():
        import threading
        import weakref

        start = threading.Thread.start
        # Threads running in the context of the request that started them,
        # until they first wait for work (a worker started lazily inside a
        # request must not carry it into later requests' jobs).
        class State(threading.local):
            """A thread's own state for the threading and queue bridges.
            The class's attributes are the defaults: a getattr default
            of a thread-local attribute never set raised and dropped an
            AttributeError, its message formatted (177 ns a look, against
            28; several in each executor job's wake-ups)."""
            on = False          # carries its starter's request (snap)
            snap = None
            checkout = False    # inside a pool's blocking checkout
            gets = 0            # job-queue takes, counted (patch_futures)
            pool_took = None    # id(pool) -> what took from it last
            job = None          # an executor job's request, while it carries it
            job_joined = None   # whether its submitter waits for it (a callable)
            own_wait = False    # in a wait that is not for work: a future's
                                # result() or exception(), a thread's start
            last_job = None     # the future an asyncio task's submit() just made
        inherited = State()

        def _start(self):
            guard_streams()
            # An executor job starting a thread waits for it to start (an
            # Event): no wait for work (job_wait).
            in_job = inherited.job is not None
            if in_job:
                was, inherited.own_wait = inherited.own_wait, True
            try:
                s = capture()
                # Pool workers get each job's context from submit().
                target = getattr(self, "_target", None)
                name = getattr(target, "__name__", "")
                if s is not None and name != "_worker":
                    run = self.run
                    # socketserver's ThreadingMixIn (ThreadingHTTPServer,
                    # wsgiref's threaded servers) starts a thread per
                    # connection it accepted: the thread serves that
                    # connection's requests, a context of its own, and a
                    # blocking wait inside a request (a pool's checkout,
                    # urllib3's block=True) does not end it.
                    own = name == "process_request_thread"

                    # The thread's context variable is left unset: what the
                    # thread serves follows its own I/O from here (a keep-alive
                    # connection's next request, a sleep that ends what it
                    # inherited), and an asyncio loop it runs asks the agent
                    # (create_task, capture). Set here, it was the first
                    # request's for good: asyncio.run in a handler wrote
                    # each later request's lines with the connection's first
                    # ID (a trial, 16 to 32 of 80; t_swap "threadrun", 36 of 320).
                    def _run_in_context():
                        prev = enter_snap(s) if own else enter_inherited(s)
                        inherited.on = not own
                        inherited.snap = s
                        try:
                            run()
                        finally:
                            inherited.on = False
                            _leave(prev)
                    try:
                        self.run = _run_in_context
                    except (AttributeError, TypeError):
                        # `run` not settable on it (a subclass's read-only
                        # property, __slots__): started as without the
                        # bridge, its thread with the agent's own rules.
                        return start(self)
                    if own:
                        r = start(self)
                        # The connection is that thread's now: what the
                        # acceptor does next (socketserver's service_actions,
                        # a signal handler between two accepts) is not its
                        # request's. Natively none, until its next accept.
                        if capture() == s:
                            _leave(None)
                        return r
                return start(self)
            finally:
                if in_job:
                    inherited.own_wait = was

        named_as(_start, start, "start", "Thread.start")
        threading.Thread.start = _start

        # A thread joined by a thread of the request it was started in
        # works for that request: the joiner waits for it. Such a
        # helper's sleep (a retry's backoff) while other requests are
        # served ends its request in the agent, as a flusher's does
        # (agent/handoff.h, rule 3); the join says which it is, and the
        # request comes back after the sleep. Before, a trial's helper,
        # started and joined by its handler, lost a third of its lines
        # and calls after its sleep. Given again after every sleep, not
        # only one that ended it: a sleep that kept it (no other request
        # had begun) leaves it carried only until one begins
        # (base/ctx.h, ctx_poll_stale), and the helper's line after
        # that was bare (1 run in 2 of t_lazy_workers with a flusher
        # busy after its sleep). Not where it no longer had the request
        # when the sleep began.
        # Kept beside the threads, not on them: a Thread's attributes
        # are the program's.
        join = threading.Thread.join
        joined_by = weakref.WeakKeyDictionary()

        def _join(self, timeout=None):
            s = capture()
            if s is None:
                return join(self, timeout)
            joined_by[self] = s
            try:
                return join(self, timeout)
            finally:
                joined_by.pop(self, None)
        named_as(_join, join, "join", "Thread.join")
        threading.Thread.join = _join

        import time
        sleep = time.sleep

        def job_sleep(s, args, kwargs):
            """An executor job's sleep, in its submitter's request: the
            agent's sleep rule decides (agent/handoff.c: its request
            answered, or another begun since), as for a thread the
            request started, through an inherited entry around the
            sleep. A job that polls for work with sleeps, submitted by
            one request and serving later ones, wrote their items with
            its submitter's ID (a trial, 47 of 48 lines; t_lazy_workers
            "exec_poll"). A job its submitter waits for (a thread of
            that request in result() or exception(), a task awaiting its
            run_in_executor future: joined()) keeps it, as a joined
            helper does."""
            if capture() != s:
                return sleep(*args, **kwargs)
            p = enter_inherited(s)
            try:
                return sleep(*args, **kwargs)
            finally:
                ended = capture() != s
                _leave(p)
                joined = inherited.job_joined
                if ended and not (joined is not None and joined()):
                    end_job()

        def _sleep(*args, **kwargs):
            j = inherited.job
            if j is not None and not inherited.on:
                return job_sleep(j, args, kwargs)
            s = inherited.snap if inherited.on else None
            had = s is not None and capture() == s
            r = sleep(*args, **kwargs)      # its own errors, as without the bridge
            # Only where the sleep itself may have ended it: a helper that
            # read a pipe before (work from elsewhere: the agent ended its
            # request there) stays without (before, a joined helper that
            # read another request's job from a pipe every request writes
            # to, then slept, wrote it with its joiner's ID: t_sleepers
            # "joinpipe", 9 to 50 of 80).
            if had and inherited.on and \
                    joined_by.get(threading.current_thread()) == s:
                _release(enter_inherited(s))
            return r
        named_as(_sleep, sleep, "sleep", "sleep")
        time.sleep = _sleep

        def waits_for_work():
            """The thread waits on a queue or a condition: what it runs
            next is not its starter's request. Not inside a pool's
            checkout (the condition a full pool waits on): a thread a
            request starts and joins, calling out through requests, is
            that request's work (it lost it at urllib3's checkout)."""
            if inherited.on and not inherited.checkout:
                inherited.on = False
                var.set(None)
                _release(_enter(None))

        wait = threading.Condition.wait

        def end_job():
            inherited.job = None
            var.set(None)
            _release(_enter(None))

        def job_wait(cond, timeout, s):
            """An executor job's Condition.wait (not for a future's result,
            not a pool's checkout), in its submitter's request: through an
            inherited entry, so that the agent ends it where the wake-up
            came from a thread in another request or in none (the
            condition's waiter lock, agent/handoff.c), as for a thread the
            request started; a wait that timed out, in a job nobody waits
            for, is a poll. A dispatcher loop one request submitted wrote
            every later request's item with that request's ID (a trial,
            47 of 48 lines; t_lazy_workers "exec_cv"); a wait woken by the
            job's own request (a thread it started, a job it waits for)
            keeps it."""
            if capture() != s:
                return wait(cond, timeout)
            p = enter_inherited(s)
            r = False
            try:
                r = wait(cond, timeout)
                return r
            finally:
                ended = capture() != s
                _leave(p)
                joined = inherited.job_joined
                if ended or (timeout is not None and not r and
                             not (joined is not None and joined())):
                    end_job()

        def _wait(self, timeout=None):
            j = inherited.job
            if j is not None and not inherited.on and not inherited.checkout and \
                    not inherited.own_wait:
                return job_wait(self, timeout, j)
            waits_for_work()
            return wait(self, timeout)
        named_as(_wait, wait, "wait", "Condition.wait")
        threading.Condition.wait = _wait

        waits["for_work"] = waits_for_work
        waits["local"] = inherited

    def patch_queue():
        """A blocking get of a queue.Queue or a queue.SimpleQueue (C code,
        given a subclass whose get is seen) is a worker waiting for work.
        Patched once queue is whole: it imports threading while it loads,
        so a program that imports queue first reaches threading's patch
        with queue half made."""
        import queue
        import threading    # noqa: F401 (its patch made waits_for_work)
        waits_for_work = waits["for_work"]
        local = waits["local"]
        get = queue.Queue.get

        def _get(self, block=True, timeout=None):
            # Only a get that may wait is a worker waiting for work: a
            # pool's checkout that never waits (urllib3's, under
            # requests) is work for the request the thread serves, and
            # so is one from a pool that waits (below).
            jobs = not isinstance(self, checkouts) and type(self)._get is fifo
            if not jobs:
                pool_took(self)
            if not block:
                item = get(self, block, timeout)
                if jobs:
                    took_at_once()
                else:
                    pool_item(self, item)
                return item
            before = capture()
            if jobs:
                waits_for_work()
                item = get(self, block, timeout)
                local.gets = local.gets + 1   # an executor's job: _submit
            else:
                was = local.checkout
                local.checkout = True
                try:
                    item = get(self, block, timeout)
                finally:
                    local.checkout = was
            job_taken(before, jobs)
            if not jobs:
                pool_item(self, item)
            return item

        # A pool's item (a LIFO or priority queue, below) put by a thread
        # in a request that had not tried to take from that pool in that
        # request (so not a check-in of what it took: a job, with the
        # queue used as a job queue) names that request; a thread in
        # another request that takes it carries none from there (before,
        # the checkout rule kept the taker's request on another request's
        # job: a trial, 10 to 27 of 40 lines wrong; t_swap "lifo"). What
        # a pool's user puts back after a take, or after a take that
        # found it empty (urllib3 makes a connection then), names nobody.
        OWNERS_KEPT = 1024

        def pool_took(q):
            s = capture()
            if s is None:
                return
            t = local.pool_took
            if t is None:
                t = local.pool_took = {}
            elif len(t) >= 64 and id(q) not in t:
                t.clear()
            t[id(q)] = s

        def pool_owner(q, item):
            """Records what `item`, about to be put on pool `q`, names."""
            s = capture()
            owners = q.__dict__.get("_reqctx_owners")
            t = local.pool_took
            if s is None or (t is not None and t.get(id(q)) == s):
                if owners:
                    owners.pop(id(item), None)
                return
            if owners is None:
                owners = q._reqctx_owners = {}
            elif len(owners) >= OWNERS_KEPT:
                del owners[next(iter(owners))]
            owners[id(item)] = s

        def pool_item(q, item):
            owners = q.__dict__.get("_reqctx_owners")
            if owners:
                o = owners.pop(id(item), None)
                if o is not None:
                    s = capture()
                    if s is not None and s != o:
                        become(None)

        put = queue.Queue.put

        def _put(self, item, block=True, timeout=None):
            pool = isinstance(self, checkouts) or type(self)._get is not fifo
            if pool:
                pool_owner(self, item)
            try:
                return put(self, item, block, timeout)
            except BaseException:
                if pool:
                    owners = self.__dict__.get("_reqctx_owners")
                    if owners:
                        owners.pop(id(item), None)
                raise
        named_as(_put, put, "put", put.__qualname__)
        queue.Queue.put = _put
        # A LIFO or priority queue is a pool of resources checked out for
        # the request at hand (urllib3's connections), not a job queue;
        # so is any queue that orders its items its own way (urllib3 1.26,
        # Debian's, has its own LifoQueue, a queue.Queue with its own
        # _get: a blocking checkout, requests' pool_block=True, dropped
        # the request the thread served).
        checkouts = (queue.LifoQueue, queue.PriorityQueue)
        fifo = queue.Queue._get

        def took_at_once():
            """A job queue's take that did not wait (get_nowait, a drain
            until Empty): the item is whichever request's put it, and
            nothing handed it over: none from here, as after a blocking
            take that brought nothing (before, a request thread that
            drained a queue.Queue every request fills kept its request
            on the others' items: a trial, 30 of 120 lines wrong)."""
            local.gets = local.gets + 1
            if capture() is not None:
                become(None)
        # Named as the method it stands for (a traceback, a repr).
        named_as(_get, get, "get", get.__qualname__)
        queue.Queue.get = _get
        base = getattr(queue, "SimpleQueue", None)
        if base is not None:
            class SimpleQueue(base):
                __slots__ = ()
                __doc__ = base.__doc__

                def get(self, /, block=True, timeout=None):
                    if block:
                        waits_for_work()
                        before = capture()
                        item = base.get(self, block, timeout)
                        local.gets = local.gets + 1
                        job_taken(before, True)
                        return item
                    item = base.get(self, block, timeout)
                    took_at_once()
                    return item
                get.__doc__ = base.get.__doc__
                get.__qualname__ = "SimpleQueue.get"

                def get_nowait(self, /, *args, **kwargs):
                    item = base.get_nowait(self, *args, **kwargs)   # its own errors
                    took_at_once()
                    return item
                get_nowait.__doc__ = base.get_nowait.__doc__
                get_nowait.__qualname__ = "SimpleQueue.get_nowait"
            # Named and found where the original is (repr, pickling the
            # class, `queue.SimpleQueue is _queue.SimpleQueue`).
            SimpleQueue.__module__ = base.__module__
            SimpleQueue.__qualname__ = base.__qualname__
            queue.SimpleQueue = SimpleQueue
            try:
                import _queue
                if getattr(_queue, "SimpleQueue", None) is base:
                    _queue.SimpleQueue = SimpleQueue
            except ImportError:
                pass

    # ---- logging: a record is written in the request it was made in ---
    def patch_logging():
        """A handler may write a record later, from another thread or
        another request: logging.handlers.MemoryHandler writes every
        request's buffered records from the thread whose record fills the
        buffer, a QueueListener from its own thread. Each LogRecord keeps
        the context current where it was made (or none), and
        Handler.handle runs in it. Kept beside the record, not in it: a
        record is pickled (a QueueHandler over multiprocessing, a
        SocketHandler), and the snapshot is not."""
        import logging
        import weakref
        # By identity, not by the record's own hash and equality (a
        # subclass may define them: records that compare equal are still
        # two records, and an unhashable one must still log): id -> (the
        # snapshot, a weak reference that drops the entry with the
        # record). A record that cannot be referenced weakly (a subclass
        # with __slots__ and no __weakref__) keeps nothing.
        made = {}
        records["made"] = made
        init = logging.LogRecord.__init__
        def _init(self, *a, **k):
            init(self, *a, **k)
            key = id(self)
            try:
                made[key] = (capture(), weakref.ref(self, lambda _r, key=key: made.pop(key, None)))
            except TypeError:
                pass
        _init.__doc__ = init.__doc__
        logging.LogRecord.__init__ = _init
        handle = logging.Handler.handle
        # A record a handler took is a line written, for the queue rules'
        # batch rule (reqctx_api_wrote), wherever it is written later (a
        # QueueListener's thread, a MemoryHandler's flush: before, a
        # consumer logging through one held a "batch" from its second
        # take, and its lines went bare, a trial, 392 of 400). Not a
        # record no handler takes (below its level, or filtered out):
        # counted where it was made, a consumer that drained two items
        # with a filtered debug record between wrote the first item's
        # line with the second's ID (12 and 18 of 48, t_log_handlers "filtered").
        wrote = fn.get("wrote")

        def _handle(self, record):
            # A record nothing was kept for (a copy, one unpickled from
            # another process) runs in none: whose it is is not known.
            e = made.get(id(record))
            s = e[0] if e is not None and e[1]() is record else None
            prev = enter_snap(s)
            try:
                r = handle(self, record)
                if r and wrote is not None:
                    wrote()
                return r
            finally:
                _leave(prev)
        _handle.__doc__ = handle.__doc__
        logging.Handler.handle = _handle

    def patch_logging_handlers():
        """QueueHandler.prepare sends a copy of the record: the copy keeps
        the original's context."""
        import logging  # noqa: F401 (patched first: logging.handlers imports it)
        import weakref
        from logging import handlers
        made = records.get("made")
        prepare = getattr(getattr(handlers, "QueueHandler", None), "prepare", None)
        if made is None or prepare is None:
            return

        def _prepare(self, record):
            r = prepare(self, record)
            e = made.get(id(record))
            if r is not record and e is not None and e[1]() is record:
                key = id(r)
                try:
                    made[key] = (e[0], weakref.ref(r, lambda _r, key=key: made.pop(key, None)))
                except TypeError:
                    pass
            return r
        _prepare.__doc__ = prepare.__doc__
        handlers.QueueHandler.prepare = _prepare

    records = {}

    # ---- worker processes -------------------------------------------
    def patch_processes():
        """A pool's worker process (concurrent.futures' ProcessPoolExecutor,
        multiprocessing's Pool) is forked, or started, when a job needs
        it: inside whichever request submitted first. It serves every
        request's jobs after, so it starts in none; a Process started for
        one piece of work keeps the request it was started in."""
        from multiprocessing import process
        bootstrap = process.BaseProcess._bootstrap
        pools = {("concurrent.futures.process", "_process_worker"),
                 ("multiprocessing.pool", "worker")}

        def _bootstrap(self, *a, **k):
            t = getattr(self, "_target", None)
            if (getattr(t, "__module__", None), getattr(t, "__name__", None)) in pools:
                var.set(None)
                _release(_enter(None))
            return bootstrap(self, *a, **k)
        _bootstrap.__doc__, _bootstrap.__name__ = bootstrap.__doc__, bootstrap.__name__
        _bootstrap.__qualname__ = bootstrap.__qualname__
        process.BaseProcess._bootstrap = _bootstrap

    # ---- green threads: gevent, eventlet ----------------------------
    # Their hub runs each request's handler as a greenlet and switches
    # between them in user space; the agent sees no switch, and once
    # greenlet is loaded it vouches for no wait of the process
    # (agent/bridge.h, bridge_green). greenlet reports every switch to a
    # trace function (per thread: the one that imports the hub's module).
    # There the greenlet that leaves keeps the context it had (its own
    # reads named it, natively), and the one that comes in is vouched for
    # and gets:
    #  - from a hub (it waited: on its socket, a timer, a queue), what it
    #    kept, if that request is still being served (reqctx_api_live:
    #    its connection open, carrying it, not answered); else none: a
    #    consumer that served a request and was woken for the next job
    #    is not in the old request any more;
    #  - from the greenlet that called it last, returning to it: what it
    #    kept, the same way;
    #  - from any other greenlet (called: a greenlet-based generator, a
    #    library running code in a child greenlet for its caller, a new
    #    greenlet started directly): its caller's context.
    # A hub is vouched for by nobody (it runs other greenlets' callbacks,
    # and its lines carry none).
    vouch = fn.get("vouch", fn.get("bridge_vouch"))
    live = fn.get("live")
    if live is None and fn.get("capture") is None and fn.get("live_raw") is not None:
        def live(s, _raw=fn["live_raw"]):       # Snaps of the class above
            return _raw(s.p) if s is not None else 0

    def hub_of(g):
        """Whether g is a hub (gevent's Hub, eventlet's hub greenlet);
        kept on the greenlet after the first look."""
        d = getattr(g, "__dict__", None)
        if d is None:
            return True         # nowhere to keep a context: as a hub
        h = d.get("_reqctx_hub")
        if h is None:
            gh = sys.modules.get("gevent.hub")
            h = gh is not None and isinstance(g, getattr(gh, "Hub", ()))
            eh = sys.modules.get("eventlet.hubs")
            if not h and eh is not None:
                hub = getattr(getattr(eh, "_threadlocal", None), "hub", None)
                h = hub is not None and getattr(hub, "greenlet", None) is g
            d["_reqctx_hub"] = h
        return h

    green_threads = set()
    GONE = object()

    def become(s):
        """Makes s current for the rest of what runs now: the thread's,
        or in a followed greenlet its own (the enter the trace function
        made at its switch is made again, so its leave still pairs)."""
        gl = sys.modules.get("greenlet")
        if gl is not None and green_threads:
            d = getattr(gl.getcurrent(), "__dict__", None)
            prev = d.pop("_reqctx_prev", GONE) if d is not None else GONE
            if prev is not GONE:
                _leave(prev)
                d["_reqctx_prev"] = enter_snap(s)
                return
        _release(enter_snap(s))

    def job_taken(before, jobs):
        """A worker took an item from a queue; `before`: what was current
        when it asked. From a job queue (`jobs`: first in, first out):
        the get brought a context of its own when it changed what is
        current (a producer's wake-up handed its request over), and that
        one stays; else (the item was there already, or a green thread's
        wait gave it back what it kept) the item's request is not known -
        the one the worker served before may still be open (its producer
        waiting for the result) and is not the item's - so none from here,
        until its own I/O names one (a handler that waits for its own
        result carries none after it until then, too). From a pool (LIFO,
        priority: a connection checked out for the request at hand), the
        request stays while it is live (reqctx_api_live), unless it is
        only what a spawn gave a greenlet (spawned_in)."""
        s = capture()
        if s is None:
            return
        if jobs:
            drop = s == before
        else:
            drop = spawned_in(s) or (live is not None and not live(s))
        if drop:
            become(None)

    def patch_green_queues(module, names):
        """gevent's queues are types of C that take no new method: the
        module's names are given subclasses whose get calls job_taken (the
        program's own use of them; gevent's inner ones stay as they are).
        eventlet's are Python: patched in place."""
        m = sys.modules.get(module)
        for name in names:
            base = getattr(m, name, None)
            if base is None or not isinstance(base, type):
                continue
            get = base.get
            try:
                def _get(self, *a, _get=get, _jobs="Lifo" not in name and "Priority" not in name, **k):
                    before = capture()
                    item = _get(self, *a, **k)
                    job_taken(before, _jobs)
                    return item
                _get.__doc__ = get.__doc__
                base.get = _get
            except (TypeError, AttributeError):
                try:
                    sub = type(name, (base,), {"get": _get, "__doc__": base.__doc__,
                                               "__module__": base.__module__,
                                               "__qualname__": base.__qualname__})
                except TypeError:
                    continue
                setattr(m, name, sub)

    def spawned(g):
        """A greenlet a request spawns (gevent.spawn, eventlet.spawn)
        starts in that request, while it is live (the trace function asks
        at each switch in): what is current at the spawn goes with it.
        Kept on the greenlet before the hub can start it (no switch
        between). Only until it first waits or takes an item from a
        queue with nothing of its own since: a worker one request starts
        lazily takes every request's jobs after (as a thread a request
        starts: waits_for_work)."""
        d = getattr(g, "__dict__", None)
        if d is not None and "_reqctx_snap" not in d:
            s = d["_reqctx_snap"] = capture()
            # A request whose head was read spawns it (a fan-out, or a
            # worker it starts lazily): what it gives ends at the
            # greenlet's first wait with nothing of its own since
            # (follow), or at its first queue item (job_taken). A
            # connection's accept-time context (a handler spawned for a
            # new connection: its head, read there, renames that same
            # context) stays the handler's.
            if s is not None and live is not None and live(s) == 1:
                d["_reqctx_spawned"] = s
        return g

    def spawned_in(s):
        """The running greenlet still has only what its spawn gave it
        (`s`, current): that ends here (job_taken)."""
        gl = sys.modules.get("greenlet")
        d = getattr(gl.getcurrent(), "__dict__", None) if gl is not None and green_threads else None
        return d is not None and d.pop("_reqctx_spawned", None) == s

    def patch_spawns(module, names):
        m = sys.modules.get(module)
        for name in names:
            f = getattr(m, name, None)
            if f is None or getattr(f, "_reqctx_spawn", False):
                continue

            def _spawn(*a, _f=f, **k):
                return spawned(_f(*a, **k))
            _spawn.__doc__ = getattr(f, "__doc__", None)
            _spawn._reqctx_spawn = True
            setattr(m, name, _spawn)

    def patch_gevent_spawn():
        patch_spawns("gevent", ("spawn", "spawn_later"))

    def patch_eventlet_spawn():
        patch_spawns("eventlet", ("spawn", "spawn_after"))
        patch_spawns("eventlet.greenthread", ("spawn", "spawn_after"))

    def patch_gevent_queue():
        patch_green_queues("gevent.queue", ("Queue", "JoinableQueue", "LifoQueue", "PriorityQueue",
                                            "SimpleQueue", "UnboundQueue"))

    def patch_eventlet_queue():
        patch_green_queues("eventlet.queue", ("LightQueue",))

    def patch_green():
        import threading
        import weakref
        import greenlet
        if vouch is None or live is None or not hasattr(greenlet, "settrace"):
            return              # the agent keeps every line of a hub's thread bare
        me = threading.get_ident()
        if me in green_threads:
            return
        green_threads.add(me)
        MISSING = object()

        def trace(event, args, chained=greenlet.gettrace()):
            if event == "switch" or event == "throw":
                try:
                    follow(*args)
                except Exception:   # never in the program's way: its lines go bare
                    vouch(0)
            if chained is not None:
                chained(event, args)

        def kept(d):
            s = d.get("_reqctx_snap")
            return s if s is not None and live(s) else None

        def follow(origin, target):
            od = getattr(origin, "__dict__", None)
            prev = od.pop("_reqctx_prev", MISSING) if od is not None else MISSING
            if prev is not MISSING:
                s = capture()
                if s is not None and od.pop("_reqctx_spawned", None) == s:
                    s = None        # its first wait ends what its spawn gave it
                od["_reqctx_snap"] = s
                _leave(prev)
            if hub_of(target):
                vouch(0)
                return
            td = target.__dict__
            if prev is MISSING or hub_of(origin):
                s = kept(td)
            else:
                caller = od.get("_reqctx_caller")
                if caller is not None and caller() is target:
                    s = kept(td)            # returning to its caller
                else:
                    s = od["_reqctx_snap"]  # called: its caller's request
                    try:
                        td["_reqctx_caller"] = weakref.ref(origin)
                    except TypeError:
                        td["_reqctx_caller"] = None
            td["_reqctx_prev"] = enter_snap(s)
            vouch(1)

        greenlet.settrace(trace)

    # ---- signal handlers -----------------------------------------------
    def patch_signal():
        """A Python signal handler runs on the main thread between two
        bytecodes of whatever it was doing: the acceptor of a threaded
        server, holding the connection it accepted last (whose request
        another thread serves), or a request's own code. What it does
        (a flush of what several requests queued, a timer's tick) is
        no request the agent can tell: it runs with none, and what was
        current comes back after it. signal.getsignal and the value
        signal.signal returns give the program's own handler."""
        import signal as sig
        set_handler, get_handler = sig.signal, sig.getsignal
        handlers = {}       # signal number -> (the program's, the wrapper)

        def own(signalnum, h):
            e = handlers.get(signalnum)
            return e[0] if e is not None and h is e[1] else h

        def _signal(signalnum, handler):
            h = handler
            if callable(handler):
                def h(signum, frame, handler=handler):
                    prev = _enter(None)
                    try:
                        return handler(signum, frame)
                    finally:
                        _leave(prev)
            old = set_handler(signalnum, h)
            n = int(signalnum)
            old = own(n, old)
            if h is handler:
                handlers.pop(n, None)
            else:
                handlers[n] = (handler, h)
            return old

        def _getsignal(signalnum):
            return own(int(signalnum), get_handler(signalnum))
        _signal.__doc__, _getsignal.__doc__ = set_handler.__doc__, get_handler.__doc__
        _signal.__name__, _getsignal.__name__ = "signal", "getsignal"
        _signal.__qualname__, _getsignal.__qualname__ = "signal", "getsignal"
        sig.signal, sig.getsignal = _signal, _getsignal

    # ---- the garbage collector ------------------------------------------
    def patch_gc():
        """A collection runs the finalizers of whatever cyclic garbage it
        finds (__del__, weakref callbacks and finalize, an async
        generator's aclose) in the thread and request that happened to
        allocate when it started: what they write is about the objects'
        own requests, long over or another's (a trial: 72 of 156 lines
        with the wrong ID). A collection runs with none, as a signal
        handler does, and what was current comes back after it."""
        import gc
        import threading
        here = threading.local()

        # On any thread with a context current (an asyncio loop's, a
        # request's thread: a threaded server's handler collected the
        # earlier requests' cycles, 79 of 80 lines wrong). The agent
        # keeps four levels of entered contexts' marks (base/thread.h,
        # pin_saved): with two, a collection in a thread a request
        # started, inside the threading bridge's own enter and a
        # logging record's, lost the mark that ends its starter's
        # request at its first pipe read (t_lazy_workers, 3 of 12 runs
        # with a line of the starter's request).
        # Never raises (a collection may come while asyncio is still being
        # imported, or at shutdown): the program would print "Exception
        # ignored in" it.
        def collecting(phase, info):
            try:
                if phase == "start":
                    here.prev = None
                    if capture() is not None:
                        here.prev = (_enter(None),)
                else:
                    prev = getattr(here, "prev", None)
                    if prev is not None:
                        here.prev = None
                        _leave(prev[0])
            except Exception:       # noqa: BLE001 - never the program's concern
                pass
        gc.callbacks.append(collecting)
    patch_gc()

    # ---- apply each patch when its module is first imported -----------
    pending = {"asyncio": patch_asyncio, "aiohttp.web_protocol": patch_aiohttp,
               "tornado.http1connection": patch_tornado,
               "concurrent.futures.thread": patch_futures,
               "threading": patch_threading, "queue": patch_queue,
               "logging": patch_logging, "logging.handlers": patch_logging_handlers,
               "multiprocessing.process": patch_processes, "signal": patch_signal,
               "gevent.hub": patch_green, "eventlet.hubs": patch_green,
               "gevent.queue": patch_gevent_queue, "eventlet.queue": patch_eventlet_queue,
               "gevent": patch_gevent_spawn, "eventlet": patch_eventlet_spawn}

    def apply(name):
        f = pending.pop(name, None)
        if f is not None:
            try:
                f()
            except Exception:           # never break the program
                # Half a bridge would vouch for contexts it does not
                # follow: the agent goes back to tagging no event loop.
                # Said in REQCTX_DEBUG's file, never on the program's
                # stderr.
                failed = fn.get("bridge_failed")
                if failed is not None:
                    failed()

    for name in list(pending):
        if name in sys.modules:
            apply(name)

    # The finders below are plain objects with a find_spec (all
    # sys.meta_path asks of them): importlib.abc's base class would import
    # importlib.resources, pathlib, tempfile and typing into every Python
    # program under the agent (17 ms of a 36 ms start-up, measured).

    # ---- buffers every thread writes out -------------------------------
    # A sys.stderr or sys.stdout over an io.BufferedWriter (stdout whenever
    # it is not a terminal; stderr as uWSGI, or a program with
    # open(2, "w", buffering=1), sets it up) is shared by all threads, in
    # two layers: the TextIOWrapper keeps text until a newline (line
    # buffering) or 8 KiB, and the BufferedWriter keeps bytes; one
    # thread's flush writes what other threads put in. The stream's write
    # is replaced (in the object's own __dict__, looked up before the
    # class's method) by the extension's Guard, which tells the agent
    # which thread put each chunk in (its bytes: the text in the stream's
    # encoding, with its errors handler), and the agent gives each line it
    # writes that thread's context (agent/buffered.h). Only a
    # TextIOWrapper's write is guarded: the buffer of a stream of another
    # kind sees several threads' text merged by its text layer. The Guard
    # holds the stream weakly: no cycle keeps a replaced stream from being
    # closed.
    # Checked again whenever the streams may have been replaced: at an
    # import, a thread's start, an executor's job.
    Guard = fn.get("Guard")
    import io
    import weakref
    # the streams last looked at, held weakly (a replaced stream must be
    # closed when the program lets go of it)
    seen = [lambda: None, lambda: None]

    def weak(x):
        try:
            return weakref.ref(x)
        except TypeError:
            return lambda: None

    import codecs

    def guard(f, force=False):
        """Puts a Guard in place of f's write: f a TextIOWrapper (or a
        subclass) over a BufferedWriter, in an encoding whose encoder keeps
        no state (no BOM: not UTF-16, UTF-32, UTF-8-SIG) and whose bytes
        for a chunk are the chunk's alone. `force`: again, after
        reconfigure() changed the encoding or errors handler."""
        if not isinstance(f, io.TextIOWrapper) or type(getattr(f, "buffer", None)) is not io.BufferedWriter:
            return
        d = getattr(f, "__dict__", None)
        if d is None:
            return
        old = d.get("write")
        if type(old) is Guard and not force:
            return
        try:
            name = codecs.lookup(f.encoding).name
            if name.startswith(("utf-16", "utf-32", "utf-8-sig")):
                if type(old) is Guard:
                    if old.ref is None:
                        f.write = old.wrapped   # the program's own again
                    else:
                        del f.write             # the class's write again
                return
            fd = f.buffer.fileno()
            if type(old) is Guard and old.ref is None:
                old = old.wrapped      # the program's own write, guarded before
            if old is not None and type(old) is not Guard:
                f.write = Guard(old, fd, f.encoding, f.errors or "strict")
            else:
                f.write = Guard(type(f).write, fd, f.encoding, f.errors or "strict", f)
            if "reconfigure" not in d:
                # reconfigure(encoding=..., errors=...) changes the bytes
                # a chunk becomes: the Guard is made again. Weakly held.
                ref = weakref.ref(f)

                def reconfigure(*a, **k):
                    s = ref()
                    r = type(s).reconfigure(s, *a, **k)
                    guard(s, True)
                    return r
                f.reconfigure = reconfigure
        except (AttributeError, TypeError, ValueError, OSError, LookupError):
            pass

    def guard_streams():
        e, o = sys.stderr, sys.stdout
        if Guard is None or (e is seen[0]() and o is seen[1]()):
            return
        seen[0], seen[1] = weak(e), weak(o)
        guard(e)
        guard(o)

    class StreamWatch:
        def find_spec(self, name, path, target=None):
            guard_streams()
            return None

    if Guard is not None:
        guard_streams()
        sys.meta_path.insert(0, StreamWatch())

    class Finder:
        def find_spec(self, name, path, target=None):
            if name not in pending:
                return None
            for f in sys.meta_path:
                if f is self:
                    continue
                find = getattr(f, "find_spec", None)
                spec = find(name, path, target) if find else None
                if spec is not None:
                    break
            else:
                return None
            loader = spec.loader
            exec_module = getattr(loader, "exec_module", None)
            if exec_module is None:
                return None

            def exec_then_patch(module):
                del loader.exec_module      # this loader is this module's own
                exec_module(module)
                apply(name)
                if not pending and finder in sys.meta_path:
                    sys.meta_path.remove(finder)
            loader.exec_module = exec_then_patch
            return spec

    finder = Finder()
    if pending:
        sys.meta_path.insert(0, finder)


_reqctx_bridge()
del _reqctx_bridge
