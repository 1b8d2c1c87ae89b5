/*
 * buffered.h - lines a runtime holds in a user-space buffer that any of
 * its threads may write out.
 *
 * CPython's io.BufferedWriter (under a sys.stderr or sys.stdout that uWSGI
 * or the program made with open(fd, "w", buffering=1), and under stdout
 * whenever it is not a terminal) is one buffer per stream for every
 * thread: thread B's flush writes the lines thread C put there, and
 * print(..., flush=True) or logging's handler flush writes a line another
 * thread put there since. The writing thread's context says nothing about
 * those lines. The Python bridge reports each chunk a thread puts into
 * such a buffer (reqctx_api_buffered, docs/api.md) with the context
 * current then, and the line writer (agent/out.c) gives each line it
 * writes the context of the chunk that put it there.
 *
 * A line is recognised by its fd, its length and a 64-bit FNV-1a hash of
 * its bytes (up to and including its newline, or the end of the chunk or
 * write). The records are a ring of BUFFERED_RECS (Python's buffer holds
 * 8 KiB: 1,024 lines of 8 bytes): a record is consumed by the line it
 * names, the oldest first, and overwritten by the newest when the ring is
 * full. Two records of one line with different contexts are ambiguous:
 * both lines then carry nothing; so do all records of the line of a
 * record overwritten before its line went out.
 */
#ifndef AGENT_BUFFERED_H
#define AGENT_BUFFERED_H

#include <stdbool.h>
#include <stddef.h>

#include "base/compiler.h"

#define BUFFERED_RECS 1024
/* A record still unused after this many bytes reported since is dropped:
 * its line went out unrecognised (cut by the buffer's edge). Eight times
 * Python's buffer. */
#define BUFFERED_STALE (64 * 1024)

struct ctx;

/* Records not yet consumed; 0 means no lookup is needed at all. */
extern AGENT_HIDDEN int buffered_live;

/* The calling thread put n bytes at p into a buffer of fd: each line that
 * starts in them (the first byte, each byte after a newline) is recorded
 * with the thread's carried context. Ignored unless fd is a log. */
void buffered_put(int fd, const void *p, size_t n);

/*
 * The line starting at p, n bytes (up to and including its newline, or to
 * the end of what is being written), goes out on fd; `whole`: it is all
 * of the write, newline included. Returns false when the writing thread
 * wrote the line itself: no record of fd is live, or none names the line
 * and it is a whole write (a thread's own write(2) of one line, such as
 * uWSGI's request log). Returns true otherwise, with *c the context of
 * the record that names the line (a reference for the caller), or NULL:
 * that record had none, the line is ambiguous (two records of it with
 * different contexts), or no record names it while records of fd are
 * live (a line cut by the buffer's edge, the rest of a line begun in
 * another write, a record overwritten before its line went out: whose it
 * is cannot be told).
 */
bool buffered_take(int fd, const char *p, size_t n, bool whole, struct ctx **c);

/* The calling thread's last report did not go in (the runtime's write
 * failed): its records are dropped, so that no later line of the same
 * bytes takes them. */
void buffered_retract(void);

/* Fork: the child keeps no record (its threads are gone; the parent's
 * buffers are copied, and the child writing them would be a guess). */
void buffered_after_fork_child(void);

#endif
