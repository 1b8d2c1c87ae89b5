/*
 * relay.h - which request wrote which bytes into a pipe, shared between
 * the processes of one forked tree (a php-fpm master and its workers), so
 * that the process reading the pipe learns the request of the bytes it
 * reads without a byte of the pipe changing.
 *
 * One MAP_SHARED anonymous mapping, made at the first pipe() a process
 * makes and inherited by its forked children. A pipe is known by the
 * address of the channel object its creator made (the same address in
 * every forked child). Per pipe: the bytes written so far and a ring of
 * records (start offset, length, a 64-bit FNV-1a hash of the bytes, the
 * writer's request ID and trace); the reader counts the bytes it read and
 * checks each record's hash as it completes. Spin locks inside the
 * mapping, never held across a system call.
 */
#ifndef CTXMAP_RELAY_H
#define CTXMAP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ctx.h"

/* Makes the shared table if this process has none (at its first pipe,
 * before any fork that should share it). */
void relaymap_init(void);

/* A write of n bytes into pipe `key` is about to be made in context `c`
 * (NULL: none); data holds them all, or is NULL (writev: the bytes are not
 * hashed and the reader will not trust them). */
void relaymap_wrote(uintptr_t key, const struct ctx *c, const void *data, size_t n);

/* ... and the kernel took only r of them (r < n; -1 none). */
void relaymap_unwrote(uintptr_t key, size_t n, long r);

/* What a read of n bytes (the first dlen at data) from pipe `key` consumed.
 * RELAY_NONE: the pipe has no records (bytes nobody recorded). */
enum relay_verdict { RELAY_NONE = 0, RELAY_NOBODY, RELAY_ONE };
struct relay_ids {
	char id[CTX_ID_MAX + 1];
	size_t id_len;
	bool has_trace;
	char trace_id[33];
	uint8_t trace_flags;
};
/* The whole lines of a read that one request wrote: a line begins where
 * the pipe's previous line ended (after a '\n' or a NUL) and ends with its
 * '\n' or a NUL, inside one record
 * whose hash was checked in this read. `off`/`len` are within the read's
 * bytes (len counts the '\n' or NUL); `who` indexes `ids`. At most
 * RELAY_LINES_MAX lines and RELAY_WHO_MAX requests; lines beyond are left
 * out (they then carry what the read's verdict says). */
#define RELAY_LINES_MAX 128   /* a 1023-byte php-fpm read: up to ~110 lines of 8+ */
#define RELAY_WHO_MAX 32
#define RELAY_LINE_MIN 8      /* shorter whole lines cannot hold a listed one */
struct relay_lines {
	unsigned n, nwho;
	/* Not 0: line[0] ends the line the read before left open (at off 0),
	 * whose first cont_head bytes that read held; the record that holds
	 * all of it was checked in this read. */
	uint32_t cont_head;
	/* Where the read's first byte lies in the pipe: `at` bytes after the
	 * first byte recorded since the pipe's entry was claimed (`epoch`:
	 * which claim). A line left open is continued only by the read that
	 * begins where it ended, whichever thread or process made the reads
	 * between. */
	uint64_t at, epoch;
	/* The read's other lines, which no request is known to have written
	 * whole (they span records, lie in bytes nobody or no checked record
	 * wrote): their bytes in the read, so that a listed line they hold is
	 * not taken for theirs. `cont`: the first of them continues a line
	 * of the read before (mid-line start); `open`: the last of them is
	 * a line the next read continues. `overflow`: more than fit. Whole
	 * lines shorter than RELAY_LINE_MIN are left out. */
	unsigned nother;
	struct { uint32_t off, len; } other[RELAY_LINES_MAX];
	bool cont, open, overflow;
	struct { uint32_t off, len; uint8_t who; } line[RELAY_LINES_MAX];
	struct relay_ids ids[RELAY_WHO_MAX];
};

/* `lines` (or NULL) receives the read's whole lines (above), whatever the
 * verdict, except when the pipe is out of step. */
enum relay_verdict relaymap_read(uintptr_t key, const void *data, size_t dlen, size_t n,
				 struct relay_ids *out, struct relay_lines *lines);

/* True when pipe `key` has records (a read of it may be relayed). */
bool relaymap_has(uintptr_t key);

/* A process closed its read end of pipe `key`: the pipe's records go when
 * it is the process that read the pipe first (agent_pid), or, when nobody
 * has read it yet, when `made_here` (this process made the pipe). Any
 * other process closing a read end it inherited (php-fpm's workers close
 * their siblings') leaves them: forgetting a live pipe would put its
 * writer out of step with its reader for good. */
void relaymap_forget(uintptr_t key, bool made_here);

/* True once any process of the tree recorded a relayed pipe: until then no
 * read needs a look at the table (one load; relaymap_used points at the
 * shared count once the table exists). */
extern AGENT_HIDDEN int *relaymap_used;
static inline bool relaymap_any(void)
{
	return __atomic_load_n(__atomic_load_n(&relaymap_used, __ATOMIC_ACQUIRE),
			       __ATOMIC_RELAXED) != 0;
}

#endif
