/*
 * thread.c - a new thread starts in its creator's context.
 */
#include <stdlib.h>

#include "dispatch.h"
#include "shim.h"

struct start {
	void *(*fn)(void *);
	void *arg;
	struct ctx *ctx;          /* reference handed to the new thread */
};

static void thread_done(void *unused)
{
	(void)unused;
	agent_enter();
	ctx_take_current(NULL);
	dispatch_thread_exit();
	agent_leave();
}

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	void *r;

	free(p);
	agent_self.cur = s.ctx;
	pthread_cleanup_push(thread_done, NULL);
	r = s.fn(s.arg);
	pthread_cleanup_pop(1);
	return r;
}

REQCTX_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr,
				 void *(*fn)(void *), void *arg)
{
	struct start *s;
	int r;

	if (!agent_active())
		return REAL(pthread_create)(t, attr, fn, arg);
	s = malloc(sizeof *s);
	if (s == NULL)
		return REAL(pthread_create)(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->ctx = agent_self.cur;
	if (s->ctx)
		ctx_get(s->ctx);
	r = REAL(pthread_create)(t, attr, trampoline, s);
	if (r != 0) {
		ctx_put(s->ctx);
		free(s);
	}
	return r;
}
