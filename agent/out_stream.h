/*
 * out_stream.h - a per-thread stdio stream whose bytes go to the line
 * writer: for output that libc formats itself and that is too long for a
 * stack buffer (a long fprintf, the messages of perror, error, err, warn).
 * Built on fopencookie, drained in 4 KiB pieces.
 */
#ifndef AGENT_OUT_STREAM_H
#define AGENT_OUT_STREAM_H

#include <stdio.h>

/* Called once by out_init(), before any stream. */
void out_stream_init(void);

/* This thread's stream, now feeding the log `fd`, or NULL (no memory).
 * Call as agent code (the guard held) until out_stream_end(). */
FILE *out_stream_begin(int fd);

/* Takes n bytes at p for `arg`: returns how many it took; fewer with
 * errno set on failure. */
typedef size_t (*out_stream_put)(void *arg, const char *p, size_t n);

/* As out_stream_begin, its bytes given to `put` instead of the line
 * writer. */
FILE *out_stream_begin_put(out_stream_put put, void *arg);

/* Flushes it: 0, or -1 with errno when the line writer failed. */
int out_stream_end(FILE *b);

#endif
