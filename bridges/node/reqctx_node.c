/*
 * reqctx_node.c - the native half of the Node bridge (reqctx.js): wraps the
 * agent's explicit API (agent/reqctx.h) for JavaScript. The functions are
 * found with dlsym(RTLD_DEFAULT) when the addon loads; without the agent
 * available() is false and reqctx.js installs nothing.
 *
 * A snapshot travels in JavaScript as an External whose finalizer releases
 * it, so a request's context lives as long as something (an
 * AsyncLocalStorage store of a pending resource) can still reach it. The
 * finalizer only drops the agent's reference (no JavaScript, no Node-API
 * call), so it is a basic finalizer, which Node runs from the garbage
 * collection itself when the addon asks for Node-API's experimental
 * version (Node 20.13 and later, 22 and later); with the default version
 * every collection that frees snapshots makes Node run them later from a
 * SetImmediate, an extra turn of the event loop. Older Node runs them that
 * way whatever the version.
 *
 * push/pop bracket one call that needs the request's context natively (a
 * write of a line, an outbound connection's writes, a child process):
 * per thread, a stack of what each push replaced, so pop restores exactly
 * that. The outermost push also vouches for the thread's context
 * (reqctx_api_bridge_vouch): Node's event loop is never vouched for
 * otherwise, so outside these calls its lines carry no prefix and it hands
 * nothing on (docs/design.md, "Runtime bridges").
 */
#include <dlfcn.h>
#include <node_version.h>
/* Headers that have basic finalizers (Node 20.13 and later, 22 and
 * later): the experimental version, whose finalizers of that kind run
 * during the collection. Older headers: the default version. */
#if NODE_MAJOR_VERSION >= 22 || (NODE_MAJOR_VERSION == 20 && NODE_MINOR_VERSION >= 13)
#define NAPI_EXPERIMENTAL
#define FINALIZE_ENV const struct napi_env__ *  /* node_api_basic_env */
#else
#define FINALIZE_ENV napi_env
#endif
#include <node_api.h>
#include <stddef.h>

typedef void *snap_t;

static const char *(*api_id)(void);
static snap_t (*api_snapshot)(void);
static snap_t (*api_enter)(snap_t);
static void (*api_leave)(snap_t);
static void (*api_release)(snap_t);
static int (*api_vouch)(int);

#define DEPTH_MAX 512
static __thread snap_t stack[DEPTH_MAX];
static __thread unsigned depth;
static __thread int vouched_before;  /* what the outermost push replaced */

static void finalize(FINALIZE_ENV env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	api_release(data);
}

/* An External owning `s`, or null for no context. */
static napi_value wrap(napi_env env, snap_t s)
{
	napi_value v;

	if (s == NULL) {
		napi_get_null(env, &v);
		return v;
	}
	if (napi_create_external(env, s, finalize, NULL, &v) != napi_ok) {
		api_release(s);
		napi_get_null(env, &v);
	}
	return v;
}

/* The snapshot an argument stands for (null, undefined, anything not an
 * External: none; napi_get_value_external refuses what is not one). */
static snap_t arg_snap(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	void *p = NULL;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1)
		return NULL;
	if (napi_get_value_external(env, argv[0], &p) != napi_ok)
		return NULL;
	return p;
}

/* A callback's NULL result is undefined to JavaScript (N-API). */
#define UNDEFINED NULL

static napi_value js_available(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	napi_get_boolean(env, api_enter != NULL, &v);
	return v;
}

static napi_value js_snapshot(napi_env env, napi_callback_info info)
{
	(void)info;
	return wrap(env, api_snapshot());
}

/* What the agent has current at the libc boundary, outside any push: for
 * an HTTP server's 'http.server.request.start', published from the
 * socket's read callback, the context the agent made from that socket's
 * request head. */
static napi_value js_entry_snapshot(napi_env env, napi_callback_info info)
{
	snap_t prev, s;

	(void)info;
	if (depth == 0)
		return wrap(env, api_snapshot());
	prev = api_enter(stack[0]);
	s = api_snapshot();
	api_leave(prev);
	return wrap(env, s);
}

/* Enters the argument's snapshot (null: none) and vouches for it,
 * remembering what it replaces for pop(). */
static napi_value js_push(napi_env env, napi_callback_info info)
{
	snap_t prev = api_enter(arg_snap(env, info));

	if (depth == 0)
		vouched_before = api_vouch(1);
	if (depth < DEPTH_MAX)
		stack[depth] = prev;
	else
		api_release(prev);
	depth++;
	return UNDEFINED;
}

static napi_value js_pop(napi_env env, napi_callback_info info)
{
	(void)env;
	(void)info;
	if (depth > 0) {
		depth--;
		if (depth < DEPTH_MAX)
			api_leave(stack[depth]);
		if (depth == 0)
			api_vouch(vouched_before);
	}
	return UNDEFINED;
}

static napi_value js_depth(napi_env env, napi_callback_info info)
{
	napi_value v;

	(void)info;
	napi_create_uint32(env, depth, &v);
	return v;
}

/* The current request ID as the agent sees it (tests, debugging). */
static napi_value js_id(napi_env env, napi_callback_info info)
{
	const char *id = api_id();
	napi_value v;

	(void)info;
	if (id == NULL)
		napi_get_null(env, &v);
	else
		napi_create_string_utf8(env, id, NAPI_AUTO_LENGTH, &v);
	return v;
}

/* This thread's event loop is the bridge's (reqctx_api_bridge_loop). */
static napi_value js_loop(napi_env env, napi_callback_info info)
{
	void (*loop)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "reqctx_api_bridge_loop");

	(void)env;
	(void)info;
	if (loop)
		loop(1);               /* Node's main thread runs libuv's loop for good */
	return UNDEFINED;
}

static napi_value init(napi_env env, napi_value exports)
{
	static const struct { const char *name; napi_callback fn; } fns[] = {
		{ "available", js_available }, { "snapshot", js_snapshot },
		{ "entrySnapshot", js_entry_snapshot }, { "push", js_push },
		{ "pop", js_pop }, { "depth", js_depth },
		{ "id", js_id }, { "loop", js_loop },
	};

	if (api_enter == NULL) {
		api_id = (const char *(*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_id");
		api_snapshot = (snap_t (*)(void))dlsym(RTLD_DEFAULT, "reqctx_api_snapshot");
		api_leave = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_leave");
		api_release = (void (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_release");
		api_vouch = (int (*)(int))dlsym(RTLD_DEFAULT, "reqctx_api_bridge_vouch");
		if (api_id && api_snapshot && api_leave && api_release && api_vouch)
			api_enter = (snap_t (*)(snap_t))dlsym(RTLD_DEFAULT, "reqctx_api_enter");
	}
	for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		napi_value f;

		/* Without the agent only available() is exported. */
		if (api_enter == NULL && i > 0)
			break;
		napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
		napi_set_named_property(env, exports, fns[i].name, f);
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
