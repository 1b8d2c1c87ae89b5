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
#include "agent/fork.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "base/debug.h"
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

/* One line naming the variable, its file and the reason when `err`
 * (0 or a negative errno value) says opening the file failed. */
static void open_failed(const char *var, const char *path, int err, const char *what)
{
	char line[CFG_PATH_MAX + 160];

	if (err >= 0)
		return;
	snprintf(line, sizeof line, "reqctx: %s=%s: cannot open: %s; %s\n",
		 var, path, strerror(-err), what);
	report(line, NULL);
}

/* A copy made without fork() (clone, _Fork, syscall): the same resets. */
static void copy_child(void)
{
	agent_enter();
	fork_child();
}

__attribute__((constructor(101))) static void agent_start(void)
{
	if (getauxval(AT_SECURE))
		return;
	real_resolve_all();
	config_load(&settings, environ, report, NULL);
	agent_config = &settings;
	ctx_sampling = (struct ctx_sampling){ settings.sample_parent, settings.sample_bound };
	if (settings.disabled)
		return;
	inherit_keep_settings(environ);
	agent_pid = getpid();
	agent_copy_watch(copy_child);
	if (settings.debug_path[0])
		open_failed("REQCTX_DEBUG", settings.debug_path,
			    debug_open(settings.debug_path), "no diagnostics");
	id_init();
	out_init();
	open_failed("REQCTX_SPANS", settings.spans_path, prop_init(), "no spans");
	prop_thread_starts();
	signals_init();
	inherit_adopt();
	bridge_start();
	/* In JSON mode every line is an object, from the first one on. */
	if (settings.output == CFG_OUTPUT_JSON)
		__atomic_store_n(&ctx_any, 1, __ATOMIC_RELAXED);
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
		agent_fail("pthread_atfork failed");
		return;
	}
	DEBUG("started (output %s, epoll %s)",
	      settings.output == CFG_OUTPUT_JSON ? "json" : "text",
	      settings.epoll == CFG_EPOLL_BATCH ? "batch" :
	      bridge_runtime && !settings.epoll_set ?
	      "single; batch on loops a bridge drives (an interpreter's default)" : "single");
	if (!agent_broken) {
		__atomic_store_n(&agent_on, 1, __ATOMIC_RELEASE);
		agent_copy_rearm();
	}
}

__attribute__((destructor)) static void agent_stop(void)
{
	if (!agent_running())
		return;
	agent_enter();
	out_final();
	agent_leave();
}
