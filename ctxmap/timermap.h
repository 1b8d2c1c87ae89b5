/*
 * timermap.h - POSIX timers with SIGEV_THREAD notification: which context
 * armed each one. glibc starts the notification thread without the
 * exported pthread_create, so the agent wraps the notification function
 * and looks the timer's context up when it runs.
 */
#ifndef AGENT_TIMERMAP_H
#define AGENT_TIMERMAP_H

#include <signal.h>
#include <time.h>

#include "base/ctx.h"
#include "base/lock.h"

/* What the agent's wrapper receives as its sigval. Never freed: a
 * notification may still be on its way after timer_delete(). */
struct ptimer {
	void (*fn)(union sigval);
	union sigval value;
	struct ctx *ctx;            /* atomic; owns a reference */
	timer_t id;
	int live;
};

/* A record for a timer about to be created, or NULL without memory. */
struct ptimer *timermap_new(void (*fn)(union sigval), union sigval value);
/* timer_create succeeded (id) or failed (NULL id: the record is dropped). */
void timermap_created(struct ptimer *t, timer_t id, int ok);
/* timer_settime on `id`: armed in `c`, or disarmed (NULL). */
void timermap_armed(timer_t id, struct ctx *c);
void timermap_deleted(timer_t id);

/* The context a notification runs in, with a reference, or NULL. */
struct ctx *timermap_ctx(struct ptimer *t);

/* Fork hooks (base/lock.h): the module lock. */
LOCK_FORK_DECLARE(timermap)

#endif
