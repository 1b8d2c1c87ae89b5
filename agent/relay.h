/*
 * relay.h - a request crosses a pipe between the processes of a forked
 * tree with the bytes, and no byte changes (ctxmap/relay.h keeps the
 * records). A forked child whose stdout or stderr is made (dup2) the write
 * end of a pipe its agent saw created - a php-fpm worker writing into its
 * master's pipe - writes it untagged and records which request wrote each
 * write; the reader takes that request for the bytes it reads, and the
 * lines it writes about them (php-fpm's "child N said into stderr") carry
 * the request's ID.
 */
#ifndef AGENT_RELAY_H
#define AGENT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ctxmap/chan.h"
#include "ctxmap/fdmap.h"

/* Flag of an FD_CHAN slot: its writes are recorded for the reader. */
#define FDF_RELAY 4u

/* Pipe `c` was made: the shared table must exist before any fork, and
 * who made the pipe decides whether it is relayed. */
void relay_pipe_made(struct chan *c);

/* dup2(from, to) just copied the slot: true when `to` (1 or 2) became a
 * relayed pipe end, which is then not a log (its bytes are written
 * unchanged). */
bool relay_dup(int from, int to);

/* relay_dup()'s test alone, before the copy: whether dup2(from, to) makes
 * `to` a relayed pipe end. */
bool relay_source(int from, int to);

/* `fd` was just opened: if on the pipe fd 2 is relayed to, it is relayed
 * too (an fstat, only in a process that relays its fd 2). */
void relay_opened(int fd);

/* A write of n bytes (data: all of them, or NULL) to a relayed slot. */
/* The key of pipe `c` in the shared table (ctxmap/relay.h): its channel's
 * address, the same in a process and its forked copies, mixed with the
 * pid that made the pipe. The address alone is not unique across the
 * tree: a php-fpm worker that closed a sibling's read end it inherited
 * (and, rightly, did not forget that live pipe) gets the same address
 * back for its next pipe() (popen, proc_open), whose reads would then
 * take the sibling's records. 0 only for no channel: 0 marks a free entry. */
static inline uintptr_t relay_key(const struct chan *c)
{
	uintptr_t k;

	if (c == NULL)
		return 0;                /* no pipe: no entry (find() refuses 0) */
	k = (uintptr_t)c ^ ((uintptr_t)(uint32_t)c->maker * 0x9e3779b97f4a7c15ull);
	return k ? k : 1;
}

void relay_write(struct fdslot *s, const void *data, size_t n);
void relay_write_done(struct fdslot *s, size_t n, ssize_t r);

/* A read of bytes nobody in this process recorded: the request whose
 * writes they were, if the records say so. Returns true when the records
 * decided (*c: a new reference, or NULL for none). */
bool relay_read(struct chan *rx, const void *data, size_t dlen, size_t n, struct ctx **c);

/* The request a line the thread writes is about, given what is current
 * (`cur`; p/n: the line's bytes). While the thread's context is the one its
 * last relayed read left: the request of the whole line taken from relayed
 * pipes that the line holds; NULL when it holds lines of two requests, a
 * line no request is known to have written whole (a blocker), a kept line
 * that another one holds, when a read's lines could not all be kept, or
 * when it holds no kept line. After another switch or a wait: NULL when it
 * holds any kept line, else `cur`. */
const struct ctx *relay_line_ctx(const struct ctx *cur, const char *p, size_t n);

/* A relayed read's context was just taken (after relay_read()): the lines
 * it kept vouch until the thread's next switch. */
void relay_read_taken(void);

/* Forgets the lines the thread took (and frees nothing). */
void relay_stash_clear(void);
/* The thread ends. */
void relay_stash_free(void);

/* The read end `s` is being closed. */
void relay_closing(struct fdslot *s);

#endif
