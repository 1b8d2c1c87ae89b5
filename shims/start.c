/*
 * start.c - the constructor and destructor: reads the configuration once,
 * seeds the IDs, registers the fork handlers, and only then lets the hooks
 * work. Calls that arrive earlier (other libraries' constructors) pass
 * straight through. In secure-execution mode (setuid) nothing is started.
 */
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "agent/bridge.h"
#include "ctxmap/chan.h"
#include "ctxmap/condmap.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "base/debug.h"
#include "ctxmap/epmap.h"
#include "base/id.h"
#include "agent/inherit.h"
#include "agent/out.h"
#include "agent/propagate.h"
#include "base/real.h"
#include "agent/signals.h"

extern char **environ;

static struct config settings;

/* Start-up problems go to stderr, once, before any context exists. */
static void report(const char *line, void *arg)
{
	(void)arg;
	REAL(write)(2, line, strlen(line));
}

static void before_fork(void)
{
	agent_enter();
	out_prepare_fork();
}

static void after_fork_parent(void)
{
	out_after_fork_parent();
	agent_leave();
}

static void after_fork_child(void)
{
	if (!agent_config->children)
		ctx_take_current(NULL);
	agent_pid = getpid();
	agent_self.tid = 0;
	id_init();
	ctx_after_fork_child();
	epmap_after_fork_child();
	condmap_after_fork_child();
	chan_after_fork_child();
	out_after_fork_child();
	agent_leave();
}

__attribute__((constructor(101))) static void agent_start(void)
{
	if (getauxval(AT_SECURE))
		return;
	real_resolve_all();
	config_load(&settings, environ, report, NULL);
	agent_config = &settings;
	if (settings.disabled)
		return;
	agent_pid = getpid();
	if (settings.debug_path[0] && debug_open(settings.debug_path) < 0)
		report("reqctx: REQCTX_DEBUG: cannot open the file; no diagnostics\n", NULL);
	id_init();
	out_init();
	if (prop_init() < 0)
		report("reqctx: REQCTX_SPANS: cannot open the file; no spans\n", NULL);
	signals_init();
	inherit_adopt();
	bridge_start();
	/* In JSON mode every line is an object, from the first one on. */
	if (settings.output == CFG_OUTPUT_JSON)
		__atomic_store_n(&ctx_any, 1, __ATOMIC_RELAXED);
	if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
		agent_fail("pthread_atfork failed");
		return;
	}
	DEBUG("started (output %s, epoll %s)",
	      settings.output == CFG_OUTPUT_JSON ? "json" : "text",
	      settings.epoll == CFG_EPOLL_BATCH ? "batch" : "single");
	if (!agent_broken)
		__atomic_store_n(&agent_on, 1, __ATOMIC_RELEASE);
}

__attribute__((destructor)) static void agent_stop(void)
{
	if (!agent_running())
		return;
	agent_enter();
	out_final();
	agent_leave();
}
