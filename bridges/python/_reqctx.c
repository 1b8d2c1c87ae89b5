/*
 * _reqctx.c - the Python bridge's calls into the agent, as a CPython
 * extension: the same reqctx_api_* functions sitecustomize.py otherwise
 * reaches through ctypes, at a C call's cost instead of a ctypes call's
 * (about 1.3 us for an enter/leave pair through ctypes: the bridge makes
 * one around every asyncio callback).
 *
 * Built against the stable ABI (Py_LIMITED_API, CPython 3.8 and later), so
 * one build loads into any CPython 3 of the machine; where it cannot load
 * (no such build, another interpreter) sitecustomize.py uses ctypes.
 * The agent's functions are found with dlsym(RTLD_DEFAULT) when the module
 * is imported; without the agent the import fails (ImportError).
 *
 * Snapshots are ints (the context's address; 0 for none), as ctypes gives
 * them to sitecustomize.py; None is taken for 0. A Snap owns one,
 * released when the Snap is freed; Snaps compare and hash by it.
 *   snapshot() -> int          reqctx_api_snapshot
 *   capture() -> Snap | None   the same, owned by a Snap (None: no context)
 *   fd_capture(fd) -> Snap | None
 *                              reqctx_api_fd_snapshot: the request whose
 *                              head connection fd read last, as a Snap
 *   enter(p) -> int            reqctx_api_enter (p: a Snap, an int or
 *                              None): the snapshot current before
 *   enter_inherited(p) -> int  reqctx_api_enter_inherited, the same for a
 *                              new thread's first context, its creator's
 *   leave(p)                   reqctx_api_leave
 *   release(p)                 reqctx_api_release
 *   live(p) -> int             reqctx_api_live: 1 when p names a request
 *                              still being served, 2 when nothing of it
 *                              was read yet, else 0 (1 without that call:
 *                              an older agent)
 *   vouch(on) -> int           reqctx_api_bridge_vouch (0 without it)
 *   take_rules(...), take_record(q[, item]), taker_record(q, t, make)
 *                              the asyncio queue rules' take records
 *                              (below)
 *   queue_rules(...), put_snap(q, item), get_snap(q, item) -> snap,
 *   take_held(q, item)         their item bookkeeping (below)
 *   task_now_rules(running_loop, current_tasks), task_now() -> Task | None
 *                              the running asyncio task (below)
 *   progress() -> int          reqctx_api_progress
 *   took() -> int              reqctx_api_took
 *   wrote()                    reqctx_api_wrote
 *   wrote_after(take) -> int   reqctx_api_wrote_after; these four only
 *                              where the agent has them (one call of C
 *                              each: the queue rules ask them on every
 *                              take, 60 and 190 ns through ctypes)
 *   Guard(write, fd, encoding, errors, self)
 *                              a callable in place of a text stream's
 *                              write: each chunk (a str, encoded as the
 *                              stream does) is reported with
 *                              reqctx_api_buffered(fd, ...) before
 *                              write(self, chunk) runs (write(chunk)
 *                              without self; self is held weakly), and
 *                              taken back (buf NULL) when the write
 *                              raises; anything else is passed on as it is
 *   handle_run(Handle, run, fallback, var, Context)
 *                              asyncio's Handle._run as a method of C,
 *                              the snapshot of each handle's context
 *                              current around its callback (below)
 *   task_make(BaseEventLoop, create_task, var, copy_context[, from_queue, last_take,
 *             get_code, child_get, made])
 *                              create_task as a method of C (below)
 *   loop_run(BaseEventLoop, run_forever)
 *                              run_forever as a method of C, the thread
 *                              marked as a bridged loop while it runs
 */
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <structmember.h>
#include <dlfcn.h>
#include <string.h>

typedef void *snap_t;

static snap_t (*api_snapshot)(void);
static snap_t (*api_fd_snapshot)(int);
static snap_t (*api_enter)(snap_t);
static snap_t (*api_enter_inherited)(snap_t);   /* api_enter in an older agent */
static void (*api_leave)(snap_t);
static void (*api_release)(snap_t);
static void (*api_buffered)(int, const void *, unsigned long);
static int (*api_live)(snap_t);
static int (*api_vouch)(int);
static unsigned long long (*api_progress)(void);
static unsigned long long (*api_took)(void);
static int (*api_wrote_after)(unsigned long long);
static void (*api_wrote)(void);

/* A snapshot owned by Python (the Python code's Snap class, in C: no
 * Python call to make one or to release it). */
typedef struct {
	PyObject_HEAD
	snap_t p;
} Snap;

static PyTypeObject *snap_type;

static void snap_dealloc(PyObject *o)
{
	PyTypeObject *t = Py_TYPE(o);
	freefunc tp_free = (freefunc)PyType_GetSlot(t, Py_tp_free);

	api_release(((Snap *)o)->p);
	tp_free(o);
	Py_DECREF(t);
}

static PyObject *snap_richcompare(PyObject *a, PyObject *b, int op)
{
	int eq;

	if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != snap_type || Py_TYPE(b) != snap_type)
		Py_RETURN_NOTIMPLEMENTED;
	eq = ((Snap *)a)->p == ((Snap *)b)->p;
	if (eq == (op == Py_EQ))
		Py_RETURN_TRUE;
	Py_RETURN_FALSE;
}

static Py_hash_t snap_hash(PyObject *o)
{
	Py_hash_t h = (Py_hash_t)((uintptr_t)((Snap *)o)->p >> 4);

	return h == -1 ? -2 : h;
}

static PyType_Slot snap_slots[] = {
	{ Py_tp_dealloc, (void *)snap_dealloc },
	{ Py_tp_richcompare, (void *)snap_richcompare },
	{ Py_tp_hash, (void *)snap_hash },
	{ Py_tp_doc, (void *)"A request's snapshot, released when freed." },
	{ 0, NULL },
};

static PyType_Spec snap_spec = {
	"_reqctx.Snap", sizeof(Snap), 0, Py_TPFLAGS_DEFAULT, snap_slots,
};

/* A snapshot argument: a Snap, an int, or None for none. -1 with an
 * exception set when it is none of those. */
static int snap_arg(PyObject *o, snap_t *p)
{
	if (o == Py_None) {
		*p = NULL;
		return 0;
	}
	if (Py_TYPE(o) == snap_type) {
		*p = ((Snap *)o)->p;
		return 0;
	}
	*p = PyLong_AsVoidPtr(o);
	return *p == NULL && PyErr_Occurred() ? -1 : 0;
}

static PyObject *snap_result(snap_t p)
{
	return p ? PyLong_FromVoidPtr(p) : PyLong_FromLong(0);
}

static PyObject *py_snapshot(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return snap_result(api_snapshot());
}

/* A Snap owning p (None for NULL). */
static PyObject *snap_owning(snap_t p)
{
	Snap *o;

	if (p == NULL)
		Py_RETURN_NONE;
	o = PyObject_New(Snap, snap_type);
	if (o == NULL) {
		api_release(p);
		return NULL;
	}
	o->p = p;
	return (PyObject *)o;
}

static PyObject *py_capture(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return snap_owning(api_snapshot());
}

static PyObject *py_fd_capture(PyObject *self, PyObject *arg)
{
	long fd = PyLong_AsLong(arg);

	(void)self;
	if (fd == -1 && PyErr_Occurred())
		return NULL;
	if (api_fd_snapshot == NULL || fd < 0 || fd > 0x7fffffffL)
		Py_RETURN_NONE;
	return snap_owning(api_fd_snapshot((int)fd));
}

/* `fn(o's snapshot)`, returning what it returns; a bad argument raises. */
static PyObject *entered(PyObject *o, snap_t (*fn)(snap_t))
{
	snap_t p;

	if (snap_arg(o, &p) < 0)
		return NULL;
	return snap_result(fn(p));
}

static PyObject *py_enter(PyObject *self, PyObject *o)
{
	(void)self;
	return entered(o, api_enter);
}

static PyObject *py_enter_inherited(PyObject *self, PyObject *o)
{
	(void)self;
	return entered(o, api_enter_inherited);
}

/* `fn(o's snapshot)`, returning None; a bad argument raises. */
static PyObject *with_snap(PyObject *o, void (*fn)(snap_t))
{
	snap_t p;

	if (snap_arg(o, &p) < 0)
		return NULL;
	fn(p);
	Py_RETURN_NONE;
}

static PyObject *py_leave(PyObject *self, PyObject *o)
{
	(void)self;
	return with_snap(o, api_leave);
}

static PyObject *py_live(PyObject *self, PyObject *o)
{
	snap_t p;

	(void)self;
	if (snap_arg(o, &p) < 0)
		return NULL;
	return PyLong_FromLong(p == NULL ? 0 : api_live ? api_live(p) : 1);
}

static PyObject *py_vouch(PyObject *self, PyObject *o)
{
	long on = PyLong_AsLong(o);

	(void)self;
	if (on == -1 && PyErr_Occurred())
		return NULL;
	return PyLong_FromLong(api_vouch ? api_vouch(on != 0) : 0);
}

/* progress(), took() -> int: reqctx_api_progress, reqctx_api_took (the
 * module has them only where the agent does). */
static PyObject *py_progress(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyLong_FromUnsignedLongLong(api_progress());
}

static PyObject *py_took(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyLong_FromUnsignedLongLong(api_took());
}

/* wrote_after(take) -> int: reqctx_api_wrote_after (take: an int took()
 * gave). */
static PyObject *py_wrote_after(PyObject *self, PyObject *o)
{
	unsigned long long take = PyLong_AsUnsignedLongLong(o);

	(void)self;
	if (take == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	return PyLong_FromLong(api_wrote_after(take));
}

/* wrote(): reqctx_api_wrote (the module has it only where the agent
 * does). */
static PyObject *py_wrote(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	api_wrote();
	Py_RETURN_NONE;
}

static PyMethodDef wrote_methods[] = {
	{ "wrote", py_wrote, METH_NOARGS,
	  "reqctx_api_wrote(): a line the thread made and handed to someone else to write counts as its write." },
	{ NULL, NULL, 0, NULL },
};

static PyObject *py_release(PyObject *self, PyObject *o)
{
	(void)self;
	return with_snap(o, api_release);
}

/* fn(self, *args, **kw). */
static PyObject *call_with(PyObject *fn, PyObject *self, PyObject *args, PyObject *kw)
{
	Py_ssize_t n = PyTuple_Size(args);
	PyObject *all = PyTuple_New(n + 1), *r;

	if (all == NULL)
		return NULL;
	Py_INCREF(self);
	PyTuple_SetItem(all, 0, self);
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *a = PyTuple_GetItem(args, i);

		Py_INCREF(a);
		PyTuple_SetItem(all, i + 1, a);
	}
	r = PyObject_Call(fn, all, kw);
	Py_DECREF(all);
	return r;
}

/* A stream's write, reporting each chunk to the agent first
 * (agent/buffered.h): whichever thread writes the buffer out, the lines
 * carry the context of the thread that put them in. It holds the
 * stream's class method and a weak reference to the stream: a bound
 * method in the stream's own __dict__ would make a cycle no collector
 * sees, and the stream would never be closed. */
typedef struct {
	PyObject_HEAD
	PyObject *write;          /* the write to call */
	PyObject *self;           /* a weak reference to the stream, or NULL:
	                             `write` is bound already */
	int fd;
	int utf8;                 /* its encoding is UTF-8, its errors "strict" */
	char encoding[64], errors[64];
} Guard;

static PyTypeObject *guard_type;

static PyObject *guard_new(PyTypeObject *t, PyObject *args, PyObject *kw)
{
	static char *names[] = { "write", "fd", "encoding", "errors", "self", NULL };
	PyObject *write, *self = Py_None;
	const char *enc = "utf-8", *errors = "strict";
	int fd;
	Guard *g;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "Oi|ssO:Guard", names, &write, &fd,
					 &enc, &errors, &self))
		return NULL;
	if (strlen(enc) >= sizeof g->encoding || strlen(errors) >= sizeof g->errors) {
		PyErr_SetString(PyExc_ValueError, "Guard: encoding or errors too long");
		return NULL;
	}
	g = (Guard *)((allocfunc)PyType_GetSlot(t, Py_tp_alloc))(t, 0);
	if (g == NULL)
		return NULL;
	if (self != Py_None) {
		g->self = PyWeakref_NewRef(self, NULL);
		if (g->self == NULL) {
			Py_DECREF(g);
			return NULL;
		}
	}
	Py_INCREF(write);
	g->write = write;
	g->fd = fd;
	strcpy(g->encoding, enc);
	strcpy(g->errors, errors);
	g->utf8 = (strcmp(enc, "utf-8") == 0 || strcmp(enc, "UTF-8") == 0 ||
		   strcmp(enc, "utf8") == 0) && strcmp(errors, "strict") == 0;
	return (PyObject *)g;
}

static void guard_dealloc(PyObject *o)
{
	PyTypeObject *t = Py_TYPE(o);
	freefunc tp_free = (freefunc)PyType_GetSlot(t, Py_tp_free);

	Py_CLEAR(((Guard *)o)->write);
	Py_CLEAR(((Guard *)o)->self);
	tp_free(o);
	Py_DECREF(t);
}

/* Reports chunk b; returns whether it did. */
static int guard_report(Guard *g, PyObject *b)
{
	PyObject *u;

	if (!PyUnicode_Check(b))
		return 0;        /* the stream's write raises for it */
	/* the bytes the stream makes of it: its encoding, its errors */
	u = g->utf8 ? PyUnicode_AsUTF8String(b)
		    : PyUnicode_AsEncodedString(b, g->encoding, g->errors);
	if (u == NULL) {
		PyErr_Clear();   /* not encodable: the write says so itself */
		return 0;
	}
	api_buffered(g->fd, PyBytes_AsString(u), (unsigned long)PyBytes_Size(u));
	Py_DECREF(u);
	return 1;
}

static PyObject *guard_call(PyObject *o, PyObject *args, PyObject *kw)
{
	Guard *g = (Guard *)o;
	int reported = 0;
	PyObject *r;

	if (api_buffered && kw == NULL && PyTuple_Size(args) == 1)
		reported = guard_report(g, PyTuple_GetItem(args, 0));
	if (g->self == NULL) {
		r = PyObject_Call(g->write, args, kw);
	} else {
		/* write(stream, *args) */
		PyObject *self = PyWeakref_GetObject(g->self);

		if (self == NULL || self == Py_None) {
			PyErr_SetString(PyExc_ValueError, "I/O operation on a stream that is gone");
			r = NULL;
		} else if (PyTuple_Size(args) == 1 && kw == NULL) {
			/* the common call: no argument tuple of our own */
			r = PyObject_CallFunctionObjArgs(g->write, self, PyTuple_GetItem(args, 0), NULL);
		} else {
			r = call_with(g->write, self, args, kw);
		}
	}
	if (r == NULL && reported)
		api_buffered(g->fd, NULL, 0);   /* it did not go in */
	return r;
}

/* What the bridge needs to make a Guard again (reconfigure): the write it
 * calls, and whether it calls it on a stream it holds (ref: the weak
 * reference, else None). */
static PyMemberDef guard_members[] = {
	{ "wrapped", T_OBJECT, offsetof(Guard, write), READONLY, "the write it calls" },
	{ "ref", T_OBJECT, offsetof(Guard, self), READONLY, "a weak reference to the stream, or None" },
	{ NULL, 0, 0, 0, NULL },
};

static PyType_Slot guard_slots[] = {
	{ Py_tp_new, (void *)guard_new },
	{ Py_tp_members, (void *)guard_members },
	{ Py_tp_dealloc, (void *)guard_dealloc },
	{ Py_tp_call, (void *)guard_call },
	{ Py_tp_doc, (void *)"Guard(write, fd, encoding='utf-8', errors='strict', self=None): a text stream's write (self.write when self is given, held weakly), reporting each chunk to the agent first." },
	{ 0, NULL },
};

static PyType_Spec guard_spec = {
	"_reqctx.Guard", sizeof(Guard), 0, Py_TPFLAGS_DEFAULT, guard_slots,
};

/* ---- asyncio's Handle._run, in C --------------------------------------
 *
 * asyncio runs every callback and task step through Handle._run, which
 * calls self._context.run(self._callback, *self._args). The bridge makes
 * the snapshot that context holds (its ContextVar's value) current around
 * each one. Done in Python that is two frames per callback (the wrapper's
 * and Handle._run's); done here it is none: this function does what
 * Handle._run does on success, and hands a failure to asyncio's own
 * Handle._run, which reports it as it always does (see replay()).
 *
 * handle_run(Handle, run, fallback, var, Context) -> a method for Handle:
 *   Handle    asyncio.events.Handle (the method's class)
 *   run       its own _run, for failures (its __doc__ becomes the
 *             method's)
 *   fallback  the bridge's Python wrapper of run, for a handle this
 *             function does not know how to run (a _context that is not a
 *             Context, _args that are not a tuple)
 *   var       the bridge's ContextVar (a Snap or None)
 *   Context   contextvars.Context (the limited API does not export it)
 * One per process: a second call (another interpreter's asyncio) raises
 * RuntimeError, and that interpreter keeps the Python wrapper.
 */
static PyObject *run_orig, *run_fallback, *run_var, *run_ctx_run, *run_taint_hook;
/* Marked maker cells alive (taint(+1/-1) from the bridge): while any is,
 * each callback's context goes to run_taint_hook first. */
static long taint_live;
static PyTypeObject *run_ctx_type, *replay_type;
static PyObject *s_context, *s_args, *s_callback;

/* A failed callback, raised again: for the time asyncio's Handle._run
 * runs, it is the handle's _callback (with () for _args), and when that
 * calls it (through Context.run, as it calls every callback) it first
 * puts the handle's _callback and _args back as the callback left them,
 * then raises the exception. So Handle._run's except clauses, and the
 * exception handler they call, see the handle as without the bridge, and
 * the traceback gets Handle._run's frame at its head as it always does (a
 * callable of C adds no entry of its own). */
typedef struct {
	PyObject_HEAD
	PyObject *handle, *callback, *args;  /* what to put back */
	PyObject *type, *value, *tb;         /* what to raise */
	int done;
} Replay;

/* Puts the handle's _callback and _args back, keeping any exception
 * pending. */
static void replay_restore(Replay *r)
{
	PyObject *t, *e, *tb;

	if (r->done)
		return;
	r->done = 1;
	PyErr_Fetch(&t, &e, &tb);
	if (PyObject_SetAttr(r->handle, s_callback, r->callback) < 0 ||
	    PyObject_SetAttr(r->handle, s_args, r->args) < 0)
		PyErr_Clear();
	PyErr_Restore(t, e, tb);
}

static void replay_dealloc(PyObject *o)
{
	PyTypeObject *t = Py_TYPE(o);
	Replay *r = (Replay *)o;
	freefunc tp_free = (freefunc)PyType_GetSlot(t, Py_tp_free);

	Py_CLEAR(r->handle);
	Py_CLEAR(r->callback);
	Py_CLEAR(r->args);
	Py_CLEAR(r->type);
	Py_CLEAR(r->value);
	Py_CLEAR(r->tb);
	tp_free(o);
	Py_DECREF(t);
}

static PyObject *replay_call(PyObject *o, PyObject *args, PyObject *kw)
{
	Replay *r = (Replay *)o;

	(void)args;
	(void)kw;
	replay_restore(r);
	Py_XINCREF(r->type);
	Py_XINCREF(r->value);
	Py_XINCREF(r->tb);
	PyErr_Restore(r->type, r->value, r->tb);
	return NULL;
}

static PyType_Slot replay_slots[] = {
	{ Py_tp_dealloc, (void *)replay_dealloc },
	{ Py_tp_call, (void *)replay_call },
	{ Py_tp_doc, (void *)"A handle's failed callback, raised again when called." },
	{ 0, NULL },
};

static PyType_Spec replay_spec = {
	"_reqctx.Replay", sizeof(Replay), 0, Py_TPFLAGS_DEFAULT, replay_slots,
};

/* The callback of `self` raised the pending exception: asyncio's
 * Handle._run runs with a Replay as its callback and reports the
 * exception (or raises it again: SystemExit, KeyboardInterrupt) with the
 * same message, context and traceback as without the bridge. Returns
 * Handle._run's result. */
static PyObject *replay(PyObject *self, PyObject *ctx)
{
	Replay *rp;
	PyObject *empty, *r;

	if (PyErr_ExceptionMatches(PyExc_RuntimeError)) {
		/* Context.run itself may have refused (the context is entered
		 * already): then the callback never ran, and asyncio's
		 * Handle._run, run as it is, fails the same way. */
		PyObject *t, *e, *tb, *probe;

		PyErr_Fetch(&t, &e, &tb);
		probe = PyObject_CallFunctionObjArgs(run_ctx_run, ctx, (PyObject *)&PyBool_Type, NULL);
		if (probe == NULL) {
			PyErr_Clear();
			Py_XDECREF(t);
			Py_XDECREF(e);
			Py_XDECREF(tb);
			return PyObject_CallFunctionObjArgs(run_orig, self, NULL);
		}
		Py_DECREF(probe);
		PyErr_Restore(t, e, tb);
	}
	rp = (Replay *)((allocfunc)PyType_GetSlot(replay_type, Py_tp_alloc))(replay_type, 0);
	if (rp == NULL)
		return NULL;
	PyErr_Fetch(&rp->type, &rp->value, &rp->tb);
	Py_INCREF(self);
	rp->handle = self;
	rp->callback = PyObject_GetAttr(self, s_callback);
	rp->args = rp->callback ? PyObject_GetAttr(self, s_args) : NULL;
	empty = rp->args ? PyTuple_New(0) : NULL;
	if (empty == NULL || PyObject_SetAttr(self, s_callback, (PyObject *)rp) < 0) {
		/* not to be had: the exception goes on as it is */
		PyErr_Clear();
		rp->done = 1;
		Py_XDECREF(empty);
		replay_call((PyObject *)rp, NULL, NULL);
		Py_DECREF(rp);
		return NULL;
	}
	if (PyObject_SetAttr(self, s_args, empty) < 0)
		PyErr_Clear();
	Py_DECREF(empty);
	r = PyObject_CallFunctionObjArgs(run_orig, self, NULL);
	replay_restore(rp);     /* where Handle._run did not call it */
	Py_DECREF(rp);
	return r;
}

/* Handle._run: the snapshot of the handle's context current around
 * Context.run(callback, *args). */
static PyObject *handle_run(PyObject *self, PyObject *extra, PyObject *kw)
{
	PyObject *ctx, *cb = NULL, *args = NULL, *call = NULL, *v, *r;
	snap_t s = NULL, prev;
	Py_ssize_t n, i;

	if (PyTuple_Size(extra) != 0 || kw != NULL)
		return call_with(run_orig, self, extra, kw);   /* its TypeError */
	ctx = PyObject_GetAttr(self, s_context);
	if (ctx == NULL)
		return NULL;
	if (Py_TYPE(ctx) != run_ctx_type)
		goto fallback;
	if (taint_live > 0 && run_taint_hook != NULL) {
		PyObject *t = PyObject_CallFunctionObjArgs(run_taint_hook, ctx, NULL);

		if (t == NULL)
			PyErr_Clear();
		Py_XDECREF(t);
	}
	cb = PyObject_GetAttr(self, s_callback);
	args = cb != NULL ? PyObject_GetAttr(self, s_args) : NULL;
	if (args == NULL || !PyTuple_Check(args)) {
		PyErr_Clear();
		goto fallback;
	}
	switch (PySequence_Contains(ctx, run_var)) {
	case 0:
		break;
	case 1:
		v = PyObject_GetItem(ctx, run_var);
		if (v == NULL || snap_arg(v, &s) < 0) {
			Py_XDECREF(v);
			PyErr_Clear();
			goto fallback;
		}
		/* the context holds v, and the agent pins what it enters */
		Py_DECREF(v);
		break;
	default:
		PyErr_Clear();
		goto fallback;
	}
	n = PyTuple_Size(args);
	call = PyTuple_New(n + 2);
	if (call == NULL)
		goto out;
	Py_INCREF(ctx);
	PyTuple_SetItem(call, 0, ctx);
	Py_INCREF(cb);
	PyTuple_SetItem(call, 1, cb);
	for (i = 0; i < n; i++) {
		PyObject *a = PyTuple_GetItem(args, i);

		Py_INCREF(a);
		PyTuple_SetItem(call, i + 2, a);
	}
	prev = api_enter(s);
	r = PyObject_Call(run_ctx_run, call, NULL);
	if (r == NULL)
		r = replay(self, ctx);
	api_leave(prev);
	Py_DECREF(call);
	Py_DECREF(ctx);
	Py_DECREF(cb);
	Py_DECREF(args);
	if (r == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_NONE;
out:
	Py_DECREF(ctx);
	Py_XDECREF(cb);
	Py_XDECREF(args);
	return NULL;
fallback:
	Py_DECREF(ctx);
	Py_XDECREF(cb);
	Py_XDECREF(args);
	return PyObject_CallFunctionObjArgs(run_fallback, self, NULL);
}

/* A method of C named `name` for class `cls`, running `fn`, with the
 * __doc__ of `like` (None: none). Its definition is kept for the life of
 * the process, as the method needs it. */
static PyObject *method_like(PyObject *cls, const char *name, PyCFunctionWithKeywords fn,
			     PyObject *like)
{
	PyMethodDef *def = PyMem_Calloc(1, sizeof *def);
	PyObject *doc, *bytes = NULL, *m;
	const char *text = NULL;

	if (def == NULL)
		return PyErr_NoMemory();
	doc = PyObject_GetAttrString(like, "__doc__");
	if (doc != NULL && PyUnicode_Check(doc))
		bytes = PyUnicode_AsUTF8String(doc);
	if (bytes != NULL) {
		const char *b = PyBytes_AsString(bytes);
		char *copy = b ? PyMem_Malloc(strlen(b) + 1) : NULL;

		if (copy != NULL)
			text = strcpy(copy, b);
	}
	PyErr_Clear();
	Py_XDECREF(bytes);
	Py_XDECREF(doc);
	def->ml_name = name;
	def->ml_meth = (PyCFunction)(void (*)(void))fn;
	def->ml_flags = METH_VARARGS | METH_KEYWORDS;
	def->ml_doc = text;
	m = PyDescr_NewMethod((PyTypeObject *)cls, def);
	if (m == NULL) {
		PyMem_Free((void *)def->ml_doc);
		PyMem_Free(def);
	}
	return m;
}

/* method_like(cls, name, fn, orig), once per process: *orig_at keeps
 * orig for fn. RuntimeError when made already (another interpreter's
 * asyncio), TypeError when cls is not a class. */
static PyObject *replacement(PyObject *cls, const char *name, PyCFunctionWithKeywords fn,
			     PyObject *orig, PyObject **orig_at)
{
	PyObject *m;

	if (*orig_at != NULL) {
		PyErr_Format(PyExc_RuntimeError, "%s: made already", name);
		return NULL;
	}
	if (!PyType_Check(cls)) {
		PyErr_Format(PyExc_TypeError, "%s: not a class", name);
		return NULL;
	}
	m = method_like(cls, name, fn, orig);
	if (m == NULL)
		return NULL;
	Py_INCREF(orig);
	*orig_at = orig;
	return m;
}

static PyObject *py_handle_run(PyObject *self, PyObject *args)
{
	PyObject *handle, *orig, *fallback, *var, *ctx_type, *hook = NULL, *m;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOOOO|O:handle_run", &handle, &orig, &fallback, &var, &ctx_type,
			      &hook))
		return NULL;
	if (!PyType_Check(ctx_type)) {
		PyErr_SetString(PyExc_TypeError, "handle_run: Context must be a class");
		return NULL;
	}
	if (run_orig == NULL && (run_ctx_run = PyObject_GetAttrString(ctx_type, "run")) == NULL)
		return NULL;
	m = replacement(handle, "_run", handle_run, orig, &run_orig);
	if (m == NULL)
		return NULL;
	Py_INCREF(fallback);
	Py_INCREF(var);
	Py_INCREF(ctx_type);
	run_fallback = fallback;
	run_var = var;
	run_ctx_type = (PyTypeObject *)ctx_type;
	if (hook != NULL) {
		Py_INCREF(hook);
		run_taint_hook = hook;
	}
	return m;
}

/* ---- BaseEventLoop.run_forever, in C -----------------------------------
 *
 * While a loop runs, its thread's callbacks get their context from the
 * bridge, so the agent may hand its epoll events out in batches
 * (reqctx_api_bridge_loop). In C rather than a Python wrapper: a method of
 * C adds no entry to a traceback through it (a KeyboardInterrupt's, say).
 *
 * loop_run(BaseEventLoop, run_forever) -> a method for BaseEventLoop
 * calling run_forever with the thread marked for as long as the outermost
 * call runs (its __doc__ is run_forever's); run_forever itself when the
 * agent has no such call. One per process, as handle_run.
 */
static PyObject *loop_orig;
static void (*api_bridge_loop)(int);
static __thread unsigned loop_depth;

static PyObject *loop_run(PyObject *self, PyObject *extra, PyObject *kw)
{
	PyObject *r;

	if (PyTuple_Size(extra) != 0 || kw != NULL)
		return call_with(loop_orig, self, extra, kw);  /* its TypeError */
	if (loop_depth++ == 0)
		api_bridge_loop(1);
	r = PyObject_CallFunctionObjArgs(loop_orig, self, NULL);
	if (--loop_depth == 0)
		api_bridge_loop(0);
	return r;
}

static PyObject *py_loop_run(PyObject *self, PyObject *args)
{
	PyObject *loop, *orig;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO:loop_run", &loop, &orig))
		return NULL;
	if (api_bridge_loop == NULL) {
		Py_INCREF(orig);
		return orig;
	}
	return replacement(loop, "run_forever", loop_run, orig, &loop_orig);
}

/* ---- BaseEventLoop.create_task, in C -----------------------------------
 *
 * A task made where the bridge's variable is unset (none of asyncio's
 * callbacks entered a request) runs in a copy of the current context with
 * the variable set to the agent's current context: the accept or read that
 * just happened. In C: no frame of the bridge's in the task's debug-mode
 * source traceback ("created at"), and none per task.
 *
 * A task made by a task holding a queue item (the ContextVar `from_queue`
 * true), with no context given, acts on that item, as a line about it
 * would: the batch rule's take (the ContextVar `last_take`) is cleared, so
 * that a dispatcher that takes each job and makes a task for it without a
 * line is no batch. (The bridge's own tasks give their context.) A task
 * made for a take (its coroutine's code is `get_code`, the bridge's
 * Queue.get) calls `child_get()` first: the maker cannot be given what
 * the take brings, and is ambiguous from there. A task made by a task with
 * a request of its own calls `made()` first (its maker cell).
 *
 * task_make(BaseEventLoop, create_task, var, copy_context[, from_queue,
 * last_take, get_code, child_get, made]) -> a method for BaseEventLoop;
 * create_task as it is for any call with a context given. One per
 * process, as handle_run.
 */
static PyObject *task_orig, *task_var, *task_copy, *task_fq, *task_lt, *task_get_code,
	*task_child_get, *task_made, *s_get, *s_set, *s_run, *s_context_kw, *s_cr_code;

/* create_task(coro): calls child_get() when coro is the bridge's
 * Queue.get. 0, or -1 with an exception set. */
static int task_for_take(PyObject *coro)
{
	PyObject *code, *r;

	if (task_get_code == NULL)
		return 0;
	code = PyObject_GetAttr(coro, s_cr_code);
	if (code == NULL) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			return -1;
		PyErr_Clear();
		return 0;
	}
	Py_DECREF(code);
	if (code != task_get_code)
		return 0;
	r = PyObject_CallObject(task_child_get, NULL);
	Py_XDECREF(r);
	return r == NULL ? -1 : 0;
}

/* create_task(): what the calling task holds from a queue is acted on
 * (above). 1 when the caller's request came from a queue item, else 0;
 * -1 with an exception set. */
static int task_acts(void)
{
	PyObject *fq, *lt, *r;

	if (task_fq == NULL)
		return 0;
	fq = PyObject_CallMethodObjArgs(task_fq, s_get, Py_False, NULL);
	if (fq == NULL)
		return -1;
	Py_DECREF(fq);
	if (fq != Py_True)
		return 0;
	lt = PyObject_CallMethodObjArgs(task_lt, s_get, Py_None, NULL);
	if (lt == NULL)
		return -1;
	Py_DECREF(lt);
	if (lt == Py_None)
		return 1;
	r = PyObject_CallMethodObjArgs(task_lt, s_set, Py_None, NULL);
	Py_XDECREF(r);
	return r == NULL ? -1 : 1;
}

/* Sets `cvar` to `value` in context `ctx`. 0, or -1 with an exception. */
static int ctx_set(PyObject *ctx, PyObject *cvar, PyObject *value)
{
	PyObject *set = PyObject_GetAttr(cvar, s_set), *r;

	r = set ? PyObject_CallMethodObjArgs(ctx, s_run, set, value, NULL) : NULL;
	Py_XDECREF(set);
	Py_XDECREF(r);
	return r == NULL ? -1 : 0;
}

/* A copy of the current context with the bridge's variable set to the
 * agent's current context, or None when there is none; NULL on error. */
static PyObject *task_context(void)
{
	PyObject *snap = py_capture(NULL, NULL), *ctx;

	if (snap == NULL || snap == Py_None)
		return snap;
	ctx = PyObject_CallObject(task_copy, NULL);
	if (ctx != NULL && ctx_set(ctx, task_var, snap) < 0)
		Py_CLEAR(ctx);
	Py_DECREF(snap);
	return ctx;
}

/* A task made where the caller's request came from a queue item (a
 * dispatcher's task for its job) inherits that request, not the queue
 * rules' consumer state: its own takes are those of a task with a request
 * of its own (from_queue false in its context). So is one made in a
 * callback whose context has from_queue set (a server's connection
 * tasks, made in a context copied from a task that took, at start-up,
 * from a queue). */
static PyObject *create_task(PyObject *self, PyObject *args, PyObject *kw)
{
	PyObject *given = kw ? PyDict_GetItem(kw, s_context_kw) : NULL, *v, *ctx, *kw2, *r;
	int fq;

	if (given != NULL && given != Py_None)
		return call_with(task_orig, self, args, kw);
	if ((fq = task_acts()) < 0)
		return NULL;
	if (PyTuple_Size(args) > 0 && task_for_take(PyTuple_GetItem(args, 0)) < 0)
		return NULL;
	v = PyObject_CallMethodObjArgs(task_var, s_get, Py_None, NULL);
	if (v == NULL)
		return NULL;
	Py_DECREF(v);
	if (v != Py_None && !fq && task_made != NULL) {
		/* a task with a request of its own: its maker cell */
		PyObject *t = PyObject_CallObject(task_made, NULL);

		if (t == NULL)
			return NULL;
		Py_DECREF(t);
	}
	if (v != Py_None && !fq)
		return call_with(task_orig, self, args, kw);
	ctx = v == Py_None ? task_context() : (Py_INCREF(Py_None), Py_None);
	if (ctx == NULL)
		return NULL;
	if (ctx == Py_None) {
		Py_DECREF(ctx);
		if (!fq)
			return call_with(task_orig, self, args, kw);
		if ((ctx = PyObject_CallObject(task_copy, NULL)) == NULL)
			return NULL;
	}
	if (fq && ctx_set(ctx, task_fq, Py_False) < 0) {
		Py_DECREF(ctx);
		return NULL;
	}
	kw2 = kw ? PyDict_Copy(kw) : PyDict_New();
	if (kw2 == NULL || PyDict_SetItem(kw2, s_context_kw, ctx) < 0) {
		Py_XDECREF(kw2);
		Py_DECREF(ctx);
		return NULL;
	}
	r = call_with(task_orig, self, args, kw2);
	Py_DECREF(kw2);
	Py_DECREF(ctx);
	return r;
}

static PyObject *py_task_make(PyObject *self, PyObject *args)
{
	PyObject *loop, *orig, *var, *copy, *fq = NULL, *lt = NULL, *gc = NULL, *cg = NULL, *md = NULL,
		 *m;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOOO|OOOOO:task_make", &loop, &orig, &var, &copy, &fq, &lt,
			      &gc, &cg, &md))
		return NULL;
	m = replacement(loop, "create_task", create_task, orig, &task_orig);
	if (m != NULL) {
		Py_INCREF(var);
		Py_INCREF(copy);
		task_var = var;
		task_copy = copy;
		if (fq != NULL && lt != NULL) {
			Py_INCREF(fq);
			Py_INCREF(lt);
			task_fq = fq;
			task_lt = lt;
		}
		if (gc != NULL && cg != NULL) {
			Py_INCREF(gc);
			Py_INCREF(cg);
			task_get_code = gc;
			task_child_get = cg;
		}
		if (md != NULL) {
			Py_INCREF(md);
			task_made = md;
		}
	}
	return m;
}

/* taint(d): adds d (+1 or -1) to the count of marked maker cells alive. */
/* ---- the asyncio queue rules' take records, in C ------------------------
 *
 * sitecustomize.py keeps, per asyncio.Queue, a record of each task that
 * took from it (or tried to): the queue's attribute `_reqctx_takers`, a
 * dict id(task) -> [weak reference to the task, request, id()s of the
 * last `ids` items taken]. The request is `any` for a consumer (its
 * from_queue variable set), else the bridge's variable; it starts as
 * `not_taken`. A put of one of those items in the same request is a
 * check-in (the bridge's checks_in). At most `takers` records a queue:
 * past that, those of tasks gone are dropped, then the oldest.
 *
 * take_rules(task_now, from_queue, var, any, not_taken, ids, takers)
 *     sets them up (once; again replaces them).
 * take_record(q[, item]) -> None
 *     the running task (task_now()) took item from q (or tried to:
 *     without item); nothing where no task runs.
 * taker_record(q, t, make) -> list | None
 *     t's record on q, made where it is missing and make is true.
 * The same as the bridge's Python functions did (git e006973), at one C
 * call's cost: they ran two and three times on every take.
 */
static PyObject *tk_task_now, *tk_fq, *tk_var, *tk_any, *tk_not_taken, *s_dict, *s_takers;

/* NULL, with the RuntimeError of a call made before its set-up `what`. */
static PyObject *not_set_up(const char *what)
{
	PyErr_Format(PyExc_RuntimeError, "_reqctx: %s() not called", what);
	return NULL;
}
static Py_ssize_t tk_ids, tk_takers;
static PyObject *task_now(void);   /* below: the running task, or None */

/* A borrowed value of q.__dict__[name] (NULL: none, or an error set). */
static PyObject *attr_of(PyObject *q, PyObject *name, int *err)
{
	PyObject *d = PyObject_GetAttr(q, s_dict), *v = NULL;

	*err = 0;
	if (d == NULL) {
		*err = 1;
		return NULL;
	}
	if (PyDict_Check(d)) {
		v = PyDict_GetItemWithError(d, name);
		if (v == NULL && PyErr_Occurred())
			*err = 1;
	} else {
		*err = 1;
		PyErr_SetString(PyExc_TypeError, "_reqctx: a queue's __dict__ is not a dict");
	}
	Py_DECREF(d);     /* the queue keeps its dict, and the dict v */
	return v;
}

/* Whether `rec` is a record of the task `t` (its weak reference's
 * referent). */
static int rec_of(PyObject *rec, PyObject *t)
{
	return PyList_Check(rec) && PyList_Size(rec) >= 2 &&
	       PyWeakref_GetObject(PyList_GetItem(rec, 0)) == t;
}

/* Drops, from a full `takers`, the records of tasks gone, then the
 * oldest while it is full. 0, or -1 with an exception. */
static int takers_trim(PyObject *takers)
{
	PyObject *dead = PyList_New(0), *k, *v;
	Py_ssize_t pos = 0;
	int rc = -1;

	if (dead == NULL)
		return -1;
	while (PyDict_Next(takers, &pos, &k, &v)) {
		PyObject *o = PyList_Check(v) && PyList_Size(v) >= 1 ?
			PyWeakref_GetObject(PyList_GetItem(v, 0)) : Py_None;

		if (o == Py_None && PyList_Append(dead, k) < 0)
			goto out;
	}
	for (Py_ssize_t i = 0; i < PyList_Size(dead); i++)
		if (PyDict_DelItem(takers, PyList_GetItem(dead, i)) < 0)
			goto out;
	pos = 0;
	if (PyDict_Size(takers) >= tk_takers && PyDict_Next(takers, &pos, &k, &v)) {
		Py_INCREF(k);
		if (PyDict_DelItem(takers, k) < 0) {
			Py_DECREF(k);
			goto out;
		}
		Py_DECREF(k);
	}
	rc = 0;
out:
	Py_DECREF(dead);
	return rc;
}

/* t's record on q, a new reference; Py_None (a new reference) where it has
 * none and make is 0; NULL with an exception. */
static PyObject *taker_of(PyObject *q, PyObject *t, int make)
{
	PyObject *takers, *key, *rec, *ref;
	int err;

	takers = attr_of(q, s_takers, &err);
	if (err)
		return NULL;
	if (takers == NULL || takers == Py_None) {
		if (!make)
			Py_RETURN_NONE;
		if ((takers = PyDict_New()) == NULL)
			return NULL;
		if (PyObject_SetAttr(q, s_takers, takers) < 0) {
			Py_DECREF(takers);
			return NULL;
		}
	} else {
		Py_INCREF(takers);
	}
	rec = NULL;
	if ((key = PyLong_FromVoidPtr(t)) == NULL)
		goto out;
	rec = PyDict_GetItemWithError(takers, key);
	if (rec == NULL && PyErr_Occurred())
		goto out;
	Py_XINCREF(rec);
	if (rec != NULL && !rec_of(rec, t)) {
		Py_CLEAR(rec);           /* a task gone, its id reused */
		if (PyDict_DelItem(takers, key) < 0)
			goto out;
	}
	if (rec == NULL && make) {
		if (PyDict_Size(takers) >= tk_takers && takers_trim(takers) < 0)
			goto out;
		if ((ref = PyWeakref_NewRef(t, NULL)) == NULL)
			goto out;
		if ((rec = PyList_New(2)) == NULL) {
			Py_DECREF(ref);
			goto out;
		}
		Py_INCREF(tk_not_taken);
		PyList_SetItem(rec, 0, ref);
		PyList_SetItem(rec, 1, tk_not_taken);
		if (PyDict_SetItem(takers, key, rec) < 0)
			Py_CLEAR(rec);
	} else if (rec == NULL) {
		Py_INCREF(Py_None);
		rec = Py_None;
	}
out:
	Py_XDECREF(key);
	Py_DECREF(takers);
	return rec;
}

static PyObject *py_taker_record(PyObject *self, PyObject *args)
{
	PyObject *q, *t;
	int make;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOp:taker_record", &q, &t, &make))
		return NULL;
	if (tk_not_taken == NULL)
		return not_set_up("take_rules");
	return taker_of(q, t, make);
}

/* The request a take is kept with: `any` for a consumer, else the
 * bridge's variable. A new reference, or NULL with an exception. */
static PyObject *take_request(void)
{
	PyObject *fq = PyObject_CallMethodObjArgs(tk_fq, s_get, NULL);
	int yes;

	if (fq == NULL)
		return NULL;
	yes = PyObject_IsTrue(fq);
	Py_DECREF(fq);
	if (yes < 0)
		return NULL;
	if (yes) {
		Py_INCREF(tk_any);
		return tk_any;
	}
	return PyObject_CallMethodObjArgs(tk_var, s_get, Py_None, NULL);
}

static PyObject *py_take_record(PyObject *self, PyObject *args)
{
	PyObject *q, *item = NULL, *t, *req = NULL, *rec = NULL, *r = NULL;
	int ne;

	(void)self;
	if (!PyArg_ParseTuple(args, "O|O:take_record", &q, &item))
		return NULL;
	if (tk_task_now == NULL)
		return not_set_up("take_rules");
	if (item == tk_not_taken)
		item = NULL;
	if ((t = task_now()) == NULL)
		return NULL;
	if (t == Py_None) {
		Py_DECREF(t);
		Py_RETURN_NONE;
	}
	if ((req = take_request()) == NULL || (rec = taker_of(q, t, 1)) == NULL)
		goto out;
	if (!PyList_Check(rec) || PyList_Size(rec) < 2) {
		PyErr_SetString(PyExc_TypeError, "_reqctx: a take record is not a list");
		goto out;
	}
	/* rec[1] is not req and rec[1] != req: the request changed */
	if ((ne = PyObject_RichCompareBool(PyList_GetItem(rec, 1), req, Py_NE)) < 0)
		goto out;
	if (ne && (PyList_SetSlice(rec, 1, PyList_Size(rec), NULL) < 0 || PyList_Append(rec, req) < 0))
		goto out;
	if (item != NULL) {
		PyObject *id;

		if (PyList_Size(rec) > tk_ids + 1 && PyList_SetSlice(rec, 2, 3, NULL) < 0)
			goto out;
		if ((id = PyLong_FromVoidPtr(item)) == NULL)
			goto out;
		ne = PyList_Append(rec, id);
		Py_DECREF(id);
		if (ne < 0)
			goto out;
	}
	Py_INCREF(Py_None);
	r = Py_None;
out:
	Py_XDECREF(rec);
	Py_XDECREF(req);
	Py_DECREF(t);
	return r;
}

/* *slot = o, with a reference; the one before dropped. */
static void keep(PyObject **slot, PyObject *o)
{
	PyObject *old = *slot;

	Py_INCREF(o);
	*slot = o;
	Py_XDECREF(old);
}

static PyObject *py_take_rules(PyObject *self, PyObject *args)
{
	PyObject *tn, *fq, *var, *any, *nt;
	Py_ssize_t ids, takers;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOOOOnn:take_rules", &tn, &fq, &var, &any, &nt, &ids, &takers))
		return NULL;
	if (ids < 0 || takers < 1) {
		PyErr_SetString(PyExc_ValueError, "_reqctx: take_rules: ids >= 0, takers >= 1");
		return NULL;
	}
	keep(&tk_task_now, tn);
	keep(&tk_fq, fq);
	keep(&tk_var, var);
	keep(&tk_any, any);
	keep(&tk_not_taken, nt);
	tk_ids = ids;
	tk_takers = takers;
	Py_RETURN_NONE;
}

/* ---- the running asyncio task, in C ------------------------------------
 *
 * task_now() -> Task | None: the task the running event loop of this
 * thread is stepping, where asyncio keeps its table of current tasks in a
 * dict and current_task() is Python (CPython 3.11 and before), whose
 * running-loop lookup asks getpid() of the kernel on every call (about
 * 1 us here). The loop found last in each thread is kept (a dict: thread
 * ident -> weak reference), and holds while its _thread_id is this
 * thread's (BaseEventLoop.run_forever sets it; a loop without one is asked
 * is_running(), as the bridge's Python does). Set up by
 * task_now_rules(running_loop, current_tasks); before that, or without
 * them (3.12 on: current_task is C), the bridge's own task_now is called.
 */
static PyObject *tn_loops, *tn_running_loop, *tn_current_tasks, *s_thread_id, *s_is_running;

/* Whether `loop` is the one this thread (ident `me`) runs: 1, 0, -1 with
 * an exception. */
static int loop_runs_here(PyObject *loop, PyObject *me)
{
	PyObject *tid = PyObject_GetAttr(loop, s_thread_id), *r;
	int yes;

	if (tid == NULL) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			return -1;
		PyErr_Clear();
		if ((r = PyObject_CallMethodObjArgs(loop, s_is_running, NULL)) == NULL)
			return -1;
		yes = PyObject_IsTrue(r);
		Py_DECREF(r);
		return yes;
	}
	yes = tid == Py_None ? 0 : PyObject_RichCompareBool(tid, me, Py_EQ);
	Py_DECREF(tid);
	return yes;
}

/* current_tasks.get(loop): a new reference. */
static PyObject *task_of(PyObject *loop)
{
	PyObject *t = PyDict_GetItemWithError(tn_current_tasks, loop);

	if (t == NULL) {
		if (PyErr_Occurred())
			return NULL;
		t = Py_None;
	}
	Py_INCREF(t);
	return t;
}

/* Drops the entries of loops gone, from a table past 256 threads. */
static void loops_trim(void)
{
	PyObject *dead = PyList_New(0), *k, *v;
	Py_ssize_t pos = 0;

	if (dead == NULL) {
		PyErr_Clear();
		return;
	}
	while (PyDict_Next(tn_loops, &pos, &k, &v))
		if (PyWeakref_GetObject(v) == Py_None && PyList_Append(dead, k) < 0)
			break;
	for (Py_ssize_t i = 0; i < PyList_Size(dead); i++)
		(void)PyDict_DelItem(tn_loops, PyList_GetItem(dead, i));
	if (PyDict_Size(tn_loops) > 256)
		PyDict_Clear(tn_loops);
	Py_DECREF(dead);
	PyErr_Clear();
}

static PyObject *task_now(void)
{
	PyObject *me, *ref, *loop, *t;
	int here;

	if (tn_current_tasks == NULL)
		return PyObject_CallObject(tk_task_now, NULL);
	if ((me = PyLong_FromUnsignedLong(PyThread_get_thread_ident())) == NULL)
		return NULL;
	ref = PyDict_GetItemWithError(tn_loops, me);
	if (ref == NULL && PyErr_Occurred())
		goto fail;
	loop = ref ? PyWeakref_GetObject(ref) : Py_None;     /* borrowed */
	if (loop != Py_None) {
		Py_INCREF(loop);
		here = loop_runs_here(loop, me);
		if (here > 0) {
			t = task_of(loop);
			Py_DECREF(loop);
			Py_DECREF(me);
			return t;
		}
		Py_DECREF(loop);
		if (here < 0)
			goto fail;
	}
	if ((loop = PyObject_CallObject(tn_running_loop, NULL)) == NULL)
		goto fail;
	if (loop == Py_None) {
		Py_DECREF(me);
		return loop;
	}
	if ((ref = PyWeakref_NewRef(loop, NULL)) == NULL) {
		PyErr_Clear();          /* not kept: asked again next time */
	} else {
		if (PyDict_Size(tn_loops) >= 256)
			loops_trim();
		if (PyDict_SetItem(tn_loops, me, ref) < 0)
			PyErr_Clear();
		Py_DECREF(ref);
	}
	t = task_of(loop);
	Py_DECREF(loop);
	Py_DECREF(me);
	return t;
fail:
	Py_DECREF(me);
	return NULL;
}

static PyObject *py_task_now(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	if (tk_task_now == NULL && tn_current_tasks == NULL)
		return not_set_up("take_rules");
	return task_now();
}

static PyObject *py_task_now_rules(PyObject *self, PyObject *args)
{
	PyObject *rl, *ct, *loops;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO!:task_now_rules", &rl, &PyDict_Type, &ct))
		return NULL;
	if (tn_loops == NULL) {
		if ((loops = PyDict_New()) == NULL)
			return NULL;
		tn_loops = loops;
	}
	keep(&tn_running_loop, rl);
	keep(&tn_current_tasks, ct);
	Py_RETURN_NONE;
}

/* ---- the asyncio queue rules' item bookkeeping, in C -------------------
 *
 * What sitecustomize.py's Queue.put_nowait and get_nowait keep beside a
 * queue (its attributes):
 *   _reqctx_snaps  a deque: the request each item in the queue was put
 *                  in (the bridge's variable then, or what a check-in
 *                  names), in put order
 *   _reqctx_taken  a dict of the last `taken_kept` items taken: None, a
 *                  bool or a small int (-5..256) by (type, value) -> None;
 *                  another object by id() -> a weak reference to it, or
 *                  `held` where it has none (then, once taken, a 1-tuple
 *                  of the request that took it)
 * queue_rules(qsize, fifo_put, fifo_get, ambiguous, held, taken_kept,
 *             deque) sets them up, after take_rules().
 * put_snap(q, item)    after a put: what it names, appended to the snaps
 * get_snap(q, item) -> the request the item taken was put in: the first
 *                      snap for a FIFO queue whose snaps match its size;
 *                      for another order, none while every item there is
 *                      nobody's, else `ambiguous`; where the queue
 *                      changed behind its methods, `ambiguous` unless
 *                      all were nobody's, and the snaps cleared. The item
 *                      is recorded as taken.
 * take_held(q, item)   at the end of a take: an item kept as `held`
 *                      records the request that took it.
 * The same as the bridge's Python (git e006973's returned, checks_in,
 * _put_nowait and _get_nowait's first half).
 */
static PyObject *qr_qsize, *qr_fifo_put, *qr_fifo_get, *qr_ambiguous, *qr_held, *qr_deque,
	*s_snaps, *s_taken, *s_put_m, *s_get_m, *s_weakrefoffset, *s_remove, *s_append, *s_popleft,
	*s_clear;
static Py_ssize_t qr_taken_kept;

/* None, a bool, or an int -5..256: taken by value. */
static int by_value(PyObject *item)
{
	int over;
	long v;

	if (item == Py_None || PyBool_Check(item))
		return 1;
	if (!PyLong_CheckExact(item))
		return 0;
	v = PyLong_AsLongAndOverflow(item, &over);
	return !over && v >= -5 && v <= 256;
}

/* The key of `item` in a queue's taken dict, and (*val) what is kept for
 * it: new references, or -1 with an exception. */
static int taken_key(PyObject *item, PyObject **key, PyObject **val)
{
	PyObject *off;
	long o;

	if (by_value(item)) {
		*key = PyTuple_Pack(2, (PyObject *)Py_TYPE(item), item);
		Py_INCREF(Py_None);
		*val = Py_None;
		return *key ? 0 : -1;
	}
	if ((*key = PyLong_FromVoidPtr(item)) == NULL)
		return -1;
	/* The type asked first: an int or a str has no weak reference. */
	off = PyObject_GetAttr((PyObject *)Py_TYPE(item), s_weakrefoffset);
	o = off ? PyLong_AsLong(off) : -1;
	Py_XDECREF(off);
	if (o == -1 && PyErr_Occurred())
		PyErr_Clear();
	*val = o != 0 ? PyWeakref_NewRef(item, NULL) : NULL;
	if (*val == NULL) {
		if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_TypeError)) {
			Py_CLEAR(*key);
			return -1;
		}
		PyErr_Clear();
		Py_INCREF(qr_held);
		*val = qr_held;
	}
	return 0;
}

/* q.__dict__[name], made (`make()`, set as an attribute) where missing
 * or None and make is given: a new reference; Py_None where missing
 * otherwise; NULL with an exception. */
static PyObject *q_attr(PyObject *q, PyObject *name, PyObject *(*make)(void))
{
	int err;
	PyObject *v = attr_of(q, name, &err);

	if (err)
		return NULL;
	if (v != NULL && (v != Py_None || make == NULL)) {
		Py_INCREF(v);
		return v;
	}
	if (make == NULL)
		Py_RETURN_NONE;
	if ((v = make()) != NULL && PyObject_SetAttr(q, name, v) < 0)
		Py_CLEAR(v);
	return v;
}

static PyObject *new_deque(void)
{
	return PyObject_CallObject(qr_deque, NULL);
}

/* What `item`, put on q, names as a thing taken there before (the entry
 * dropped): None (nobody), `ambiguous` (a small int), or `not_taken`. A
 * new reference, or NULL with an exception. */
static PyObject *returned(PyObject *q, PyObject *item)
{
	PyObject *taken, *key = NULL, *val = NULL, *ref, *r = NULL;

	if ((taken = q_attr(q, s_taken, NULL)) == NULL)
		return NULL;
	if (!PyDict_Check(taken) || PyDict_Size(taken) == 0) {
		Py_DECREF(taken);
		Py_INCREF(tk_not_taken);
		return tk_not_taken;
	}
	if (taken_key(item, &key, &val) < 0)
		goto out;
	ref = PyDict_GetItemWithError(taken, key);
	if (ref == NULL) {
		if (!PyErr_Occurred()) {
			Py_INCREF(tk_not_taken);
			r = tk_not_taken;
		}
		goto out;
	}
	Py_INCREF(ref);
	if (PyDict_DelItem(taken, key) < 0) {
		Py_DECREF(ref);
		goto out;
	}
	if (ref == Py_None) {
		r = PyLong_CheckExact(item) ? qr_ambiguous : Py_None;
		Py_INCREF(r);
	} else if (PyTuple_CheckExact(ref)) {
		/* the request that took it: the same one putting it back */
		PyObject *held_in = PyTuple_Size(ref) > 0 ? PyTuple_GetItem(ref, 0) : Py_None;
		PyObject *cur = PyObject_CallMethodObjArgs(tk_var, s_get, Py_None, NULL);
		int eq = 0;

		if (cur == NULL) {
			Py_DECREF(ref);
			goto out;
		}
		if (held_in != Py_None && held_in != qr_ambiguous)
			eq = PyObject_RichCompareBool(held_in, cur, Py_EQ);
		Py_DECREF(cur);
		if (eq < 0) {
			Py_DECREF(ref);
			goto out;
		}
		r = eq ? Py_None : tk_not_taken;
		Py_INCREF(r);
	} else {
		r = ref != qr_held && PyWeakref_Check(ref) && PyWeakref_GetObject(ref) == item ?
			Py_None : tk_not_taken;
		Py_INCREF(r);
	}
	Py_DECREF(ref);
out:
	Py_XDECREF(key);
	Py_XDECREF(val);
	Py_DECREF(taken);
	return r;
}

/* The first index >= 2 of rec equal to i, or -1 (-2 with an exception). */
static Py_ssize_t id_index(PyObject *rec, PyObject *i)
{
	for (Py_ssize_t j = 2; j < PyList_Size(rec); j++) {
		int eq = PyObject_RichCompareBool(PyList_GetItem(rec, j), i, Py_EQ);

		if (eq < 0)
			return -2;
		if (eq)
			return j;
	}
	return -1;
}

/* What the running task's put of `item` on q, in request `cur` (not
 * None), names as a check-in: the very object it took there in this
 * request (or, ambiguous, in any) names nobody (its id dropped from its
 * record); another put of a task that took there in this request, or of
 * a consumer, no one request's (`ambiguous`); else `not_taken`. A new
 * reference, or NULL with an exception. */
static PyObject *checks_in(PyObject *q, PyObject *cur, PyObject *item)
{
	PyObject *takers, *t, *rec = NULL, *i = NULL, *r = NULL;
	Py_ssize_t j;
	int err, same;

	takers = attr_of(q, s_takers, &err);
	if (err)
		return NULL;
	if (takers == NULL || (same = PyObject_IsTrue(takers)) == 0) {
		Py_INCREF(tk_not_taken);
		return tk_not_taken;
	}
	if (same < 0 || (t = task_now()) == NULL)
		return NULL;
	if (t == Py_None) {
		Py_DECREF(t);
		Py_INCREF(tk_not_taken);
		return tk_not_taken;
	}
	rec = taker_of(q, t, 0);
	Py_DECREF(t);
	if (rec == NULL)
		return NULL;
	if (rec == Py_None || !PyList_Check(rec) || PyList_Size(rec) < 2) {
		r = tk_not_taken;
		Py_INCREF(r);
		goto out;
	}
	if ((i = PyLong_FromVoidPtr(item)) == NULL)
		goto out;
	if (cur != qr_ambiguous) {
		PyObject *req = PyList_GetItem(rec, 1);

		same = req == tk_any ? 1 : PyObject_RichCompareBool(req, cur, Py_EQ);
		if (same < 0)
			goto out;
		if (!same) {
			r = tk_not_taken;
			Py_INCREF(r);
			goto out;
		}
	}
	if ((j = id_index(rec, i)) == -2)
		goto out;
	if (j >= 0) {
		if (PyList_SetSlice(rec, j, j + 1, NULL) < 0)
			goto out;
		r = Py_None;
	} else {
		r = cur == qr_ambiguous ? tk_not_taken : qr_ambiguous;
	}
	Py_INCREF(r);
out:
	Py_XDECREF(i);
	Py_DECREF(rec);
	return r;
}

static PyObject *py_put_snap(PyObject *self, PyObject *args)
{
	PyObject *q, *item, *snaps, *s = NULL, *r = NULL, *res = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO:put_snap", &q, &item))
		return NULL;
	if (qr_deque == NULL)
		return not_set_up("queue_rules");
	if ((snaps = q_attr(q, s_snaps, new_deque)) == NULL)
		return NULL;
	if ((s = PyObject_CallMethodObjArgs(tk_var, s_get, Py_None, NULL)) == NULL ||
	    (r = returned(q, item)) == NULL)
		goto out;
	if (s != Py_None) {
		if (r != tk_not_taken) {
			Py_INCREF(r);
			Py_DECREF(s);
			s = r;
		} else {
			PyObject *c = checks_in(q, s, item);

			if (c == NULL)
				goto out;
			if (c != tk_not_taken) {
				Py_DECREF(s);
				s = c;
			} else {
				Py_DECREF(c);
			}
		}
	}
	res = PyObject_CallMethodObjArgs(snaps, s_append, s, NULL);
out:
	Py_XDECREF(r);
	Py_XDECREF(s);
	Py_DECREF(snaps);
	return res;
}

/* Whether any snap in `snaps` names somebody (is not None): 1, 0, or -1
 * with an exception. */
static int any_somebody(PyObject *snaps)
{
	PyObject *it = PyObject_GetIter(snaps), *x;
	int found = 0;

	if (it == NULL)
		return -1;
	while (!found && (x = PyIter_Next(it)) != NULL) {
		found = x != Py_None;
		Py_DECREF(x);
	}
	Py_DECREF(it);
	return PyErr_Occurred() ? -1 : found;
}

/* Records `item` as taken from q (the taken dict). 0, or -1. */
static int taken_add(PyObject *q, PyObject *item)
{
	PyObject *taken, *key, *val;
	int rc = -1;

	if (taken_key(item, &key, &val) < 0)
		return -1;
	if ((taken = q_attr(q, s_taken, PyDict_New)) == NULL)
		goto out;
	if (!PyDict_Check(taken)) {
		PyErr_SetString(PyExc_TypeError, "_reqctx: a queue's taken record is not a dict");
		goto out2;
	}
	if (PyDict_Size(taken) >= qr_taken_kept) {
		Py_ssize_t pos = 0;
		PyObject *k, *v;

		if (PyDict_Next(taken, &pos, &k, &v)) {
			Py_INCREF(k);
			rc = PyDict_DelItem(taken, k);
			Py_DECREF(k);
			if (rc < 0)
				goto out2;
		}
	}
	rc = PyDict_SetItem(taken, key, val);
out2:
	Py_DECREF(taken);
out:
	Py_DECREF(key);
	Py_DECREF(val);
	return rc;
}

/* The snap of the item just taken from q (above). A new reference, or
 * NULL with an exception. */
static PyObject *snap_taken(PyObject *q)
{
	PyObject *snaps, *size, *s = NULL, *cls, *put = NULL, *get = NULL, *x;
	Py_ssize_t n, len;
	int fifo, some;

	if ((snaps = q_attr(q, s_snaps, NULL)) == NULL)
		return NULL;
	if ((some = PyObject_IsTrue(snaps)) <= 0) {
		Py_DECREF(snaps);
		if (some < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	if ((len = PyObject_Length(snaps)) < 0)
		goto out;
	size = PyObject_CallFunctionObjArgs(qr_qsize, q, NULL);
	n = size ? PyLong_AsSsize_t(size) : -1;
	Py_XDECREF(size);
	if (n == -1 && PyErr_Occurred())
		goto out;
	cls = (PyObject *)Py_TYPE(q);
	if ((put = PyObject_GetAttr(cls, s_put_m)) == NULL || (get = PyObject_GetAttr(cls, s_get_m)) == NULL)
		goto out;
	fifo = put == qr_fifo_put && get == qr_fifo_get;
	if (len == n + 1 && fifo) {
		s = PyObject_CallMethodObjArgs(snaps, s_popleft, NULL);
	} else if (len == n + 1) {
		/* An order of its own (a LifoQueue, a PriorityQueue): nobody's
		 * while every item there is, else no one request's; a
		 * nobody's entry goes first. */
		x = PyObject_CallMethodObjArgs(snaps, s_remove, Py_None, NULL);
		if (x != NULL) {
			Py_DECREF(x);
			if ((some = any_somebody(snaps)) >= 0) {
				s = some ? qr_ambiguous : Py_None;
				Py_INCREF(s);
			}
		} else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
			PyErr_Clear();
			if ((x = PyObject_CallMethodObjArgs(snaps, s_popleft, NULL)) != NULL) {
				Py_DECREF(x);
				Py_INCREF(qr_ambiguous);
				s = qr_ambiguous;
			}
		}
	} else {
		/* The queue changed behind its methods. */
		if ((some = any_somebody(snaps)) >= 0 &&
		    (x = PyObject_CallMethodObjArgs(snaps, s_clear, NULL)) != NULL) {
			Py_DECREF(x);
			s = some ? qr_ambiguous : Py_None;
			Py_INCREF(s);
		}
	}
out:
	Py_XDECREF(put);
	Py_XDECREF(get);
	Py_DECREF(snaps);
	return s;
}

static PyObject *py_get_snap(PyObject *self, PyObject *args)
{
	PyObject *q, *item;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO:get_snap", &q, &item))
		return NULL;
	if (qr_deque == NULL)
		return not_set_up("queue_rules");
	if (taken_add(q, item) < 0)
		return NULL;
	return snap_taken(q);
}

static PyObject *py_take_held(PyObject *self, PyObject *args)
{
	PyObject *q, *item, *taken, *key = NULL, *v, *cur = NULL, *t = NULL, *r = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO:take_held", &q, &item))
		return NULL;
	if (qr_deque == NULL)
		return not_set_up("queue_rules");
	if (by_value(item))
		Py_RETURN_NONE;
	if ((taken = q_attr(q, s_taken, NULL)) == NULL)
		return NULL;
	if (!PyDict_Check(taken)) {
		Py_DECREF(taken);
		Py_RETURN_NONE;
	}
	if ((key = PyLong_FromVoidPtr(item)) == NULL)
		goto out;
	v = PyDict_GetItemWithError(taken, key);
	if (v != qr_held) {
		if (v != NULL || !PyErr_Occurred())
			r = (Py_INCREF(Py_None), Py_None);
		goto out;
	}
	if ((cur = PyObject_CallMethodObjArgs(tk_var, s_get, Py_None, NULL)) == NULL ||
	    (t = PyTuple_Pack(1, cur)) == NULL || PyDict_SetItem(taken, key, t) < 0)
		goto out;
	Py_INCREF(Py_None);
	r = Py_None;
out:
	Py_XDECREF(t);
	Py_XDECREF(cur);
	Py_XDECREF(key);
	Py_DECREF(taken);
	return r;
}

static PyObject *py_queue_rules(PyObject *self, PyObject *args)
{
	PyObject *qsize, *fput, *fget, *amb, *held, *deque;
	Py_ssize_t kept;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOOOOnO:queue_rules", &qsize, &fput, &fget, &amb, &held, &kept,
			      &deque))
		return NULL;
	if (tk_var == NULL)
		return not_set_up("take_rules");
	if (kept < 1) {
		PyErr_SetString(PyExc_ValueError, "_reqctx: queue_rules: taken_kept >= 1");
		return NULL;
	}
	keep(&qr_qsize, qsize);
	keep(&qr_fifo_put, fput);
	keep(&qr_fifo_get, fget);
	keep(&qr_ambiguous, amb);
	keep(&qr_held, held);
	keep(&qr_deque, deque);
	qr_taken_kept = kept;
	Py_RETURN_NONE;
}

static PyObject *py_taint(PyObject *self, PyObject *arg)
{
	long d = PyLong_AsLong(arg);

	(void)self;
	if (d == -1 && PyErr_Occurred())
		return NULL;
	taint_live += d;
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{ "snapshot", py_snapshot, METH_NOARGS, "The current request's snapshot (0: none)." },
	{ "capture", py_capture, METH_NOARGS, "The current request's snapshot as a Snap, or None." },
	{ "fd_capture", py_fd_capture, METH_O,
	  "The snapshot of the request whose head connection fd read last, as a Snap, or None." },
	{ "enter", py_enter, METH_O, "Makes snapshot p current; returns the one before." },
	{ "enter_inherited", py_enter_inherited, METH_O,
	  "enter() for a new thread's first context, its creator's: a pipe's read ends it." },
	{ "leave", py_leave, METH_O, "Makes snapshot p (enter's result) current again." },
	{ "release", py_release, METH_O, "Drops snapshot p." },
	{ "live", py_live, METH_O, "reqctx_api_live(p): 1 live, 2 live and nothing read yet, 0 not." },
	{ "vouch", py_vouch, METH_O, "reqctx_api_bridge_vouch(on): returns the state it replaced." },
	{ "taint", py_taint, METH_O, "taint(d): d more (or fewer) marked maker cells alive." },
	{ "handle_run", py_handle_run, METH_VARARGS,
	  "handle_run(Handle, run, fallback, var, Context): Handle._run in C, the request of the handle's context current around its callback." },
	{ "task_make", py_task_make, METH_VARARGS,
	  "task_make(BaseEventLoop, create_task, var, copy_context[, from_queue, last_take]): create_task in C, a task made outside any request taking the agent's current one; one made by a task holding a queue item clears last_take." },
	{ "take_rules", py_take_rules, METH_VARARGS,
	  "take_rules(task_now, from_queue, var, any, not_taken, ids, takers): sets up take_record and taker_record." },
	{ "take_record", py_take_record, METH_VARARGS,
	  "take_record(q[, item]): the running task took item from the asyncio queue q (or tried to)." },
	{ "taker_record", py_taker_record, METH_VARARGS,
	  "taker_record(q, t, make) -> list | None: task t's take record on q." },
	{ "task_now_rules", py_task_now_rules, METH_VARARGS,
	  "task_now_rules(running_loop, current_tasks): task_now() from asyncio's table, the thread's loop kept." },
	{ "task_now", py_task_now, METH_NOARGS, "task_now() -> the task this thread's running loop steps, or None." },
	{ "queue_rules", py_queue_rules, METH_VARARGS,
	  "queue_rules(qsize, fifo_put, fifo_get, ambiguous, held, taken_kept, deque): sets up put_snap, get_snap and take_held." },
	{ "put_snap", py_put_snap, METH_VARARGS, "put_snap(q, item): after a put, what it names appended to q's snaps." },
	{ "get_snap", py_get_snap, METH_VARARGS,
	  "get_snap(q, item) -> the request the item just taken from q was put in; the item recorded as taken." },
	{ "take_held", py_take_held, METH_VARARGS,
	  "take_held(q, item): at a take's end, an item with no weak reference records the request that took it." },
	{ "loop_run", py_loop_run, METH_VARARGS,
	  "loop_run(BaseEventLoop, run_forever): run_forever in C, the thread marked as a bridged loop while it runs." },
	{ NULL, NULL, 0, NULL },
};

/* Calls an older agent may lack: added to the module only where it has
 * them (sitecustomize.py falls back to ctypes, or goes without). */
static PyMethodDef take_methods[] = {
	{ "progress", py_progress, METH_NOARGS,
	  "reqctx_api_progress(): the thread's steps entered (high 32 bits) and its writes in this step." },
	{ "took", py_took, METH_NOARGS, "reqctx_api_took(): a token for a take, for wrote_after()." },
	{ "wrote_after", py_wrote_after, METH_O,
	  "reqctx_api_wrote_after(take): 1 when the thread wrote since the take (in its step or this one)." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_reqctx", "The agent's explicit API for the Python bridge.",
	-1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__reqctx(void);

PyMODINIT_FUNC PyInit__reqctx(void)
{
	PyObject *m;

	api_snapshot = (snap_t (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_snapshot");
	api_fd_snapshot = (snap_t (*)(int))dlsym(RTLD_DEFAULT, "reqctx_api_fd_snapshot");
	api_enter = (snap_t (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_enter");
	api_enter_inherited = (snap_t (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_enter_inherited");
	if (api_enter_inherited == NULL)
		api_enter_inherited = api_enter;
	api_leave = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_leave");
	api_release = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_release");
	if (!api_snapshot || !api_enter || !api_leave || !api_release) {
		PyErr_SetString(PyExc_ImportError, "_reqctx: the agent (libreqctx.so) is not loaded");
		return NULL;
	}
	m = PyModule_Create(&module);
	if (m == NULL)
		return NULL;
	snap_type = (PyTypeObject *)PyType_FromSpec(&snap_spec);
	if (snap_type == NULL || PyModule_AddObject(m, "Snap", (PyObject *)snap_type) < 0) {
		Py_XDECREF(snap_type);
		Py_DECREF(m);
		return NULL;
	}
	Py_INCREF(snap_type);     /* the module's reference, kept for snap_type */
	api_buffered = (void (*)(int, const void *, unsigned long))
		dlsym(RTLD_DEFAULT, "reqctx_api_buffered");
	api_bridge_loop = (void (*)(int))dlsym(RTLD_DEFAULT, "reqctx_api_bridge_loop");
	api_live = (int (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_live");
	api_vouch = (int (*)(int))dlsym(RTLD_DEFAULT, "reqctx_api_bridge_vouch");
	api_progress = (unsigned long long (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_progress");
	api_took = (unsigned long long (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_took");
	api_wrote_after = (int (*)(unsigned long long))dlsym(RTLD_DEFAULT, "reqctx_api_wrote_after");
	if (api_progress && api_took && api_wrote_after &&
	    PyModule_AddFunctions(m, take_methods) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	api_wrote = (void (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_wrote");
	if (api_wrote && PyModule_AddFunctions(m, wrote_methods) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	guard_type = (PyTypeObject *)PyType_FromSpec(&guard_spec);
	if (guard_type == NULL || PyModule_AddObject(m, "Guard", (PyObject *)guard_type) < 0) {
		Py_XDECREF(guard_type);
		Py_DECREF(m);
		return NULL;
	}
	Py_INCREF(guard_type);
	s_context = PyUnicode_InternFromString("_context");
	s_args = PyUnicode_InternFromString("_args");
	s_callback = PyUnicode_InternFromString("_callback");
	s_get = PyUnicode_InternFromString("get");
	s_set = PyUnicode_InternFromString("set");
	s_run = PyUnicode_InternFromString("run");
	s_context_kw = PyUnicode_InternFromString("context");
	s_cr_code = PyUnicode_InternFromString("cr_code");
	s_dict = PyUnicode_InternFromString("__dict__");
	s_takers = PyUnicode_InternFromString("_reqctx_takers");
	s_snaps = PyUnicode_InternFromString("_reqctx_snaps");
	s_taken = PyUnicode_InternFromString("_reqctx_taken");
	s_put_m = PyUnicode_InternFromString("_put");
	s_get_m = PyUnicode_InternFromString("_get");
	s_weakrefoffset = PyUnicode_InternFromString("__weakrefoffset__");
	s_remove = PyUnicode_InternFromString("remove");
	s_append = PyUnicode_InternFromString("append");
	s_popleft = PyUnicode_InternFromString("popleft");
	s_clear = PyUnicode_InternFromString("clear");
	s_thread_id = PyUnicode_InternFromString("_thread_id");
	s_is_running = PyUnicode_InternFromString("is_running");
	replay_type = (PyTypeObject *)PyType_FromSpec(&replay_spec);
	if (!s_context || !s_args || !s_callback || !s_get || !s_set || !s_run || !s_context_kw ||
	    !s_dict || !s_takers || !s_snaps || !s_taken || !s_put_m || !s_get_m || !s_weakrefoffset ||
	    !s_remove || !s_append || !s_popleft || !s_clear || !s_thread_id || !s_is_running ||
	    replay_type == NULL) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
