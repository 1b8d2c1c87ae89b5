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
 * them to sitecustomize.py; None is taken for 0.
 *   snapshot() -> int          reqctx_api_snapshot
 *   enter(p) -> int            reqctx_api_enter: the snapshot current before
 *   leave(p)                   reqctx_api_leave
 *   release(p)                 reqctx_api_release
 *   run_in(p, fn, arg)         enter(p), fn(arg), leave: fn's result or
 *                              exception, with the context restored
 */
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <dlfcn.h>

typedef void *snap_t;

static snap_t (*api_snapshot)(void);
static snap_t (*api_enter)(snap_t);
static void (*api_leave)(snap_t);
static void (*api_release)(snap_t);

/* A snapshot argument: an int, or None for none. -1 with an exception set
 * when it is neither. */
static int snap_arg(PyObject *o, snap_t *p)
{
	if (o == Py_None) {
		*p = NULL;
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

static PyObject *py_enter(PyObject *self, PyObject *o)
{
	snap_t p;

	(void)self;
	if (snap_arg(o, &p) < 0)
		return NULL;
	return snap_result(api_enter(p));
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

static PyObject *py_release(PyObject *self, PyObject *o)
{
	(void)self;
	return with_snap(o, api_release);
}

static PyObject *py_run_in(PyObject *self, PyObject *args)
{
	PyObject *o, *fn, *arg, *r;
	snap_t p, prev;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOO:run_in", &o, &fn, &arg) || snap_arg(o, &p) < 0)
		return NULL;
	prev = api_enter(p);
	r = PyObject_CallFunctionObjArgs(fn, arg, NULL);
	api_leave(prev);
	return r;
}

static PyMethodDef methods[] = {
	{ "snapshot", py_snapshot, METH_NOARGS, "The current request's snapshot (0: none)." },
	{ "enter", py_enter, METH_O, "Makes snapshot p current; returns the one before." },
	{ "leave", py_leave, METH_O, "Makes snapshot p (enter's result) current again." },
	{ "release", py_release, METH_O, "Drops snapshot p." },
	{ "run_in", py_run_in, METH_VARARGS, "fn(arg) with snapshot p current." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_reqctx", "The agent's explicit API for the Python bridge.",
	-1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__reqctx(void);

PyMODINIT_FUNC PyInit__reqctx(void)
{
	api_snapshot = (snap_t (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_snapshot");
	api_enter = (snap_t (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_enter");
	api_leave = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_leave");
	api_release = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_release");
	if (!api_snapshot || !api_enter || !api_leave || !api_release) {
		PyErr_SetString(PyExc_ImportError, "_reqctx: the agent (libreqctx.so) is not loaded");
		return NULL;
	}
	return PyModule_Create(&module);
}
