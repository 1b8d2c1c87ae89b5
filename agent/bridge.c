/*
 * bridge.c - loads the runtime bridges (bridges/node, bridges/python,
 * bridges/ruby) into interpreters that switch requests in user space, where
 * the per-thread context the agent keeps at the libc boundary cannot be
 * right on its own (see docs/design.md, "Runtime bridges").
 *
 * Called once from the constructor, before the runtime's main() reads its
 * environment. When this process is node, python3.x, uwsgi or ruby (by the
 * basename of /proc/self/exe, or a loaded libnode/libruby/libpython3) and
 * REQCTX_BRIDGES allows
 * it, the bridge is added to the variable the runtime reads at start-up:
 *
 *   node    NODE_OPTIONS += " --require <dir>/node/reqctx.js"
 *   python  PYTHONPATH    = "<dir>/python:" + PYTHONPATH  (sitecustomize.py)
 *   ruby    RUBYOPT      += " -r<dir>/ruby/reqctx.rb"
 *
 * <dir> is "bridges" next to this library (build/bridges in the build tree,
 * $(LIBDIR)/reqctx/bridges when installed). What the user had stays; an
 * addition already present is not made twice. Each bridge takes its own
 * addition out of the process environment once loaded, so the programs the
 * runtime starts inherit the user's value (their own agent, if they have
 * one, adds the bridge again).
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/bridge.h"
#include "agent/config.h"
#include "agent/handoff.h"
#include "base/debug.h"
#include "base/thread.h"

enum runtime { RT_NONE, RT_NODE, RT_PYTHON, RT_RUBY };

#define BR_PATH_MAX 4096

static enum runtime by_name(const char *base)
{
	if (strcmp(base, "node") == 0 || strcmp(base, "nodejs") == 0)
		return RT_NODE;
	/* python3, python3.11, python3.11d ... (not python2) */
	if (strncmp(base, "python3", 7) == 0 &&
	    (base[7] == '\0' || base[7] == '.' ))
		return RT_PYTHON;
	/* uWSGI loads libpython with its python3 plugin, after start-up,
	 * where no link-map walk can see it; PYTHONPATH is read only when
	 * that plugin starts the interpreter. */
	if (strncmp(base, "uwsgi", 5) == 0)
		return RT_PYTHON;
	if (strncmp(base, "ruby", 4) == 0 &&
	    strspn(base + 4, "0123456789.") == strlen(base + 4))
		return RT_RUBY;
	return RT_NONE;
}

static int lib_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *n = info->dlpi_name, *b;

	(void)size;
	if (n == NULL || *n == '\0')
		return 0;
	b = strrchr(n, '/');
	b = b ? b + 1 : n;
	if (strncmp(b, "libnode.so", 10) == 0)
		*(enum runtime *)arg = RT_NODE;
	else if (strncmp(b, "libruby", 7) == 0 && strstr(b, ".so"))
		*(enum runtime *)arg = RT_RUBY;
	else if (strncmp(b, "libpython3", 10) == 0 && strstr(b, ".so"))
		*(enum runtime *)arg = RT_PYTHON;
	return *(enum runtime *)arg != RT_NONE;
}

int bridge_vm;

/* Set by which_runtime(): Python found in a program that embeds it (uwsgi,
 * a libpython3), not the interpreter itself. */
static bool embedded;

static enum runtime which_runtime(void)
{
	char exe[BR_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	enum runtime rt = RT_NONE;

	if (n > 0) {
		const char *base;

		exe[n] = '\0';
		base = strrchr(exe, '/');
		base = base ? base + 1 : exe;
		rt = by_name(base);
		embedded = strncmp(base, "uwsgi", 5) == 0;
		if (strcmp(base, "java") == 0)
			bridge_vm = 1;       /* no bridge; its own locks all the same */
	}
	/* A program that embeds node, ruby or python (libnode.so,
	 * libruby-3.1.so, libpython3.11.so). */
	if (rt == RT_NONE) {
		dl_iterate_phdr(lib_cb, &rt);
		embedded = rt == RT_PYTHON;
	}
	return rt;
}

/* "<directory of this library>/bridges", or false. */
static bool bridge_dir(char *dst, size_t cap)
{
	Dl_info info;
	const char *slash;
	int n;

	if (!dladdr((void *)bridge_start, &info) || info.dli_fname == NULL)
		return false;
	slash = strrchr(info.dli_fname, '/');
	if (slash == NULL) {
		if (getcwd(dst, cap) == NULL)
			return false;
		n = snprintf(dst + strlen(dst), cap - strlen(dst), "/bridges");
	} else if (info.dli_fname[0] == '/') {
		n = snprintf(dst, cap, "%.*s/bridges",
			     (int)(slash - info.dli_fname), info.dli_fname);
	} else {
		/* A relative LD_PRELOAD: make it absolute, the runtime may chdir. */
		if (getcwd(dst, cap) == NULL)
			return false;
		size_t l = strlen(dst);

		n = snprintf(dst + l, cap - l, "/%.*s/bridges",
			     (int)(slash - info.dli_fname), info.dli_fname);
	}
	return n > 0 && (size_t)n < cap;
}

/* Characters a path may not have to go into these variables unquoted. */
static bool plain_path(const char *p, const char *forbidden)
{
	return strpbrk(p, forbidden) == NULL;
}

static void add_to(const char *var, const char *piece, bool prepend, const char *sep)
{
	const char *old = getenv(var);
	char buf[3 * BR_PATH_MAX];
	int n;

	if (old && strstr(old, piece)) {
		DEBUG("bridge: %s already holds %s", var, piece);
		return;
	}
	if (old == NULL || *old == '\0')
		n = snprintf(buf, sizeof buf, "%s", piece);
	else if (prepend)
		n = snprintf(buf, sizeof buf, "%s%s%s", piece, sep, old);
	else
		n = snprintf(buf, sizeof buf, "%s%s%s", old, sep, piece);
	if (n < 0 || (size_t)n >= sizeof buf) {
		DEBUG("bridge: %s too long, bridge not loaded", var);
		return;
	}
	if (setenv(var, buf, 1) == 0)
		DEBUG("bridge: %s=%s", var, buf);
}

int bridge_pending;
int bridge_runtime;
int bridge_loops_only;
int bridge_broken;
int bridge_green;
int bridge_watch_loads;
int bridge_watch_selects;

void bridge_loaded(const char *file)
{
	const char *b = strrchr(file, '/');

	b = b ? b + 1 : file;
	/* greenlet 1.0 and later: greenlet/_greenlet.cpython-311-x86_64-linux-gnu.so;
	 * before: greenlet.cpython-37m-x86_64-linux-gnu.so */
	if ((strncmp(b, "_greenlet.", 10) != 0 && strncmp(b, "greenlet.", 9) != 0) || !strstr(b, ".so"))
		return;
	/* Every epoll loop the bridge does not drive, as in the interpreter
	 * (uWSGI's embedded Python had none of it). */
	__atomic_store_n(&bridge_loops_only, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&bridge_green, 1, __ATOMIC_RELAXED))
		DEBUG("bridge: %s loaded: green threads; the waits of every loop the bridge does not drive name nobody", b);
}

void bridge_ready(void)
{
	if (__atomic_load_n(&bridge_broken, __ATOMIC_RELAXED))
		return;
	if (__atomic_exchange_n(&bridge_pending, 0, __ATOMIC_RELAXED))
		DEBUG("bridge: ready; event-loop threads are tagged again");
	agent_self.unvouched = false;
}

void bridge_failed(void)
{
	if (!__atomic_exchange_n(&bridge_broken, 1, __ATOMIC_RELAXED))
		DEBUG("bridge: failed; event-loop threads are untagged from now on");
	if (bridge_runtime)
		__atomic_store_n(&bridge_pending, 1, __ATOMIC_RELAXED);
	agent_self.unvouched = bridge_runtime != 0;
}

int bridge_vouch(bool on)
{
	bool was = !agent_self.unvouched;

	agent_self.unvouched = !on;
	return was;
}

void bridge_start(void)
{
	char dir[BR_PATH_MAX], file[BR_PATH_MAX + 64], piece[BR_PATH_MAX + 128];
	enum runtime rt;

	rt = which_runtime();
	if (rt == RT_NONE)
		return;
	bridge_vm = 1;
	if (rt == RT_PYTHON)
		__atomic_store_n(&bridge_watch_loads, 1, __ATOMIC_RELAXED);
	if (rt == RT_RUBY && !embedded)
		__atomic_store_n(&bridge_watch_selects, 1, __ATOMIC_RELAXED);
	/* Until its bridge reports in (it may be off, missing or broken):
	 * only for the interpreters themselves, whose event loops schedule
	 * requests in user space; uWSGI's own loops (its router, its master)
	 * are native and stay tagged. */
	if (!embedded) {
		__atomic_store_n(&bridge_pending, 1, __ATOMIC_RELAXED);
		bridge_runtime = 1;
		bridge_loops_only = rt == RT_PYTHON;
		/* CPython's locks are semaphores: who posted each is noted
		 * from the start, not only once a thread runs on an inherited
		 * pin (a lock released before the thread that takes it first
		 * entered its creator's context: agent/handoff.c). */
		if (rt == RT_PYTHON)
			__atomic_store_n(&sem_posts_watched, 1, __ATOMIC_RELAXED);
	}
	if (agent_config->bridges == 0 || !bridge_dir(dir, sizeof dir))
		return;
	switch (rt) {
	case RT_NODE:
		if (!(agent_config->bridges & CFG_BRIDGE_NODE))
			return;
		snprintf(file, sizeof file, "%s/node/reqctx.js", dir);
		/* NODE_OPTIONS splits on spaces, with "..." for quoting. */
		if (access(file, R_OK) != 0 || !plain_path(file, "\"\\ \t\n"))
			break;
		snprintf(piece, sizeof piece, "--require %s", file);
		add_to("NODE_OPTIONS", piece, false, " ");
		return;
	case RT_PYTHON:
		if (!(agent_config->bridges & CFG_BRIDGE_PYTHON))
			return;
		snprintf(file, sizeof file, "%s/python/sitecustomize.py", dir);
		if (access(file, R_OK) != 0 || !plain_path(file, ":\n"))
			break;
		/* First on the path: its sitecustomize then runs the one the
		 * user's PYTHONPATH or the system provides (Debian has one). */
		snprintf(piece, sizeof piece, "%s/python", dir);
		add_to("PYTHONPATH", piece, true, ":");
		return;
	case RT_RUBY:
		if (!(agent_config->bridges & CFG_BRIDGE_RUBY))
			return;
		snprintf(file, sizeof file, "%s/ruby/reqctx.rb", dir);
		if (access(file, R_OK) != 0 || !plain_path(file, " \t\n"))
			break;
		snprintf(piece, sizeof piece, "-r%s", file);
		add_to("RUBYOPT", piece, false, " ");
		return;
	case RT_NONE:
		return;
	}
	DEBUG("bridge: %s missing or not usable in a variable; not loaded", file);
}

void bridge_loop(bool on)
{
	if (agent_self.bridge_loop != on) {
		agent_self.bridge_loop = on;
		DEBUG("bridge: this thread's event loop %s the bridge's", on ? "is" : "is no longer");
	}
}
