/*
 * mem.h - the agent's own allocator (mmap-backed size classes), for
 * anything allocated while an agent lock is held. Never the host's malloc.
 */
#ifndef BASE_MEM_H
#define BASE_MEM_H

#include <stddef.h>

/* Zeroed memory, or NULL. */
void *mem_alloc(size_t n);
/* `n` is the size given to mem_alloc. */
void mem_free(void *p, size_t n);
void mem_after_fork_child(void);



#endif
