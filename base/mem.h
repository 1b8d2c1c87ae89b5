/*
 * mem.h - the agent's own allocator (mmap-backed size classes), for
 * anything allocated while an agent lock is held. Never the host's malloc.
 */
#ifndef BASE_MEM_H
#define BASE_MEM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Zeroed memory, or NULL. */
void *mem_alloc(size_t n);
/* The same, not zeroed: a block from a new chunk is untouched memory
 * (no resident page until written), one given back before holds what it
 * held. For a buffer every use writes before it reads. */
void *mem_alloc_uninit(size_t n);
/* mem_alloc_uninit() with no system call: a block of at most 64 KiB from
 * a free list or a chunk already mapped, or NULL. For a path that must
 * not add a system call to the host's (its output). */
void *mem_alloc_mapped(size_t n);
/* Maps a chunk for the size class of `n` bytes (at most 64 KiB) now when
 * the class has no free block and no room left, so that a later
 * mem_alloc_mapped of that size finds one unless other callers took it
 * first (best effort, not a reservation). For a thread's start, outside
 * the output path. False without memory. */
bool mem_reserve(size_t n);
/* `n` is the size given to mem_alloc. */
void mem_free(void *p, size_t n);
void mem_after_fork_child(void);

/* The host's calloc, for tables filled on a hooked call's way back (no
 * agent lock held), with errno as it was: a failed allocation inside a
 * successful read must not change the errno the program sees. */
static inline void *calloc_quiet(size_t n, size_t size)
{
	int saved = errno;
	void *p = calloc(n, size);

	errno = saved;
	return p;
}



#endif
