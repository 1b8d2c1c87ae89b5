/*
 * stream.h - what the stdio interposers (stdio.c) and the message
 * interposers (message.c) share: which stream is tagged, and glibc FILE
 * internals (the only place that knows them).
 */
#ifndef SHIMS_STREAM_H
#define SHIMS_STREAM_H

#include <pthread.h>
#include <stdio.h>

/* The log fd behind `f` when its bytes go to the line writer (byte
 * oriented, on a log fd, a context has existed), else -1. Tagged: bytes
 * stdio buffered for it go out first. Not tagged: what this thread holds
 * goes out first when f's bytes may reach the same destination. */
int shim_stream_fd(FILE *f);

/* The stream is closed or reopened: bytes put in its buffer unseen go
 * through the line writer first, and what the agent noted of it goes
 * (shims/stdio.c, kept streams). Returns 0, or the errno of that write
 * when it failed (fclose then fails, as with libc's own flush). */
int shim_stream_closed(FILE *f);

/* Raises the stream's error flag, as a failed write inside libc would. */
void shim_stream_error(FILE *f);

/* Where a hook whose libc call is a cancellation point returns, with no
 * lock held: a cancellation that came while the agent's write was not
 * one (agent/out.c, out_write_call) acts here. */
static inline void shim_cancel_point(void)
{
	pthread_testcancel();
}

#endif
