/*
 * mem.c - the agent's own memory: size classes carved from mmap'd chunks.
 *
 * The agent never calls the host's allocator while it holds one of its
 * locks: the host's allocator may itself wait for a thread that waits for
 * the agent (jemalloc's background threads hold their mutex while they
 * wait on a condition variable, which the agent's hook records under its
 * lock). Everything the stores allocate under a lock comes from here.
 *
 * Blocks of 16 B to 64 KiB come from per-class free lists behind a spin
 * lock held for a few stores (a new chunk is mapped outside it); larger
 * ones are mapped and unmapped whole. Small blocks go back to their list,
 * never to the kernel. The caller passes the size back when freeing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "base/lock.h"
#include "base/mem.h"

#define MIN_SHIFT 4
#define CLASSES 13                         /* 16 B .. 64 KiB */
#define CHUNK ((size_t)256 * 1024)

struct block {
	struct block *next;
};

static struct {
	int lock;
	struct block *free;
	char *bump, *end;
} cls[CLASSES];

static int class_of(size_t n)
{
	int c = 0;

	while (((size_t)1 << (c + MIN_SHIFT)) < n)
		c++;
	return c;
}

static size_t big_size(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static void *alloc_as(size_t n, bool zero, bool may_map);

void *mem_alloc(size_t n)
{
	return alloc_as(n, true, true);
}

void *mem_alloc_uninit(size_t n)
{
	return alloc_as(n, false, true);
}

void *mem_alloc_mapped(size_t n)
{
	return alloc_as(n, false, false);
}

/* Class c (blocks of bs bytes) has a block at hand; its lock held. */
static bool has_room(int c, size_t bs)
{
	return cls[c].free || (cls[c].bump && (size_t)(cls[c].end - cls[c].bump) >= bs);
}

/* Maps a new chunk for class c, unless it has a block at hand again once
 * the chunk is mapped (another thread mapped one meanwhile: this one goes
 * back, and no chunk's remainder is lost). Mapped without the lock. False
 * without memory. */
static bool add_chunk(int c, size_t bs)
{
	size_t csize = bs > CHUNK / 4 ? bs * 4 : CHUNK;
	char *chunk = mmap(NULL, csize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool room;

	if (chunk == MAP_FAILED)
		return false;
	spin_lock(&cls[c].lock);
	room = has_room(c, bs);
	if (!room) {
		cls[c].bump = chunk;
		cls[c].end = chunk + csize;
	}
	spin_unlock(&cls[c].lock);
	if (room)
		munmap(chunk, csize);
	return true;
}

static void *alloc_as(size_t n, bool zero, bool may_map)
{
	int c;
	size_t bs;
	void *p = NULL;

	if (n == 0)
		n = 1;
	if (n > ((size_t)1 << (MIN_SHIFT + CLASSES - 1))) {
		if (!may_map)
			return NULL;
		p = mmap(NULL, big_size(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	c = class_of(n);
	bs = (size_t)1 << (c + MIN_SHIFT);
	for (;;) {
		spin_lock(&cls[c].lock);
		if (cls[c].free) {
			p = cls[c].free;
			cls[c].free = cls[c].free->next;
		} else if (has_room(c, bs)) {
			p = cls[c].bump;
			cls[c].bump += bs;
		}
		spin_unlock(&cls[c].lock);
		if (p) {
			if (zero)
				memset(p, 0, bs);
			return p;
		}
		if (!may_map || !add_chunk(c, bs))
			return NULL;
	}
}

bool mem_reserve(size_t n)
{
	int c;
	size_t bs;
	bool room;

	if (n > ((size_t)1 << (MIN_SHIFT + CLASSES - 1)))
		return false;
	c = class_of(n ? n : 1);
	bs = (size_t)1 << (c + MIN_SHIFT);
	spin_lock(&cls[c].lock);
	room = has_room(c, bs);
	spin_unlock(&cls[c].lock);
	return room || add_chunk(c, bs);
}

void mem_free(void *p, size_t n)
{
	int c;

	if (p == NULL)
		return;
	if (n == 0)
		n = 1;
	if (n > ((size_t)1 << (MIN_SHIFT + CLASSES - 1))) {
		munmap(p, big_size(n));
		return;
	}
	c = class_of(n);
	spin_lock(&cls[c].lock);
	((struct block *)p)->next = cls[c].free;
	cls[c].free = p;
	spin_unlock(&cls[c].lock);
}

/* In a child only one thread is left: a lock another thread held stays
 * held. Free blocks are forgotten (a list being changed may be torn);
 * blocks in use stay valid. */
void mem_after_fork_child(void)
{
	for (int c = 0; c < CLASSES; c++) {
		cls[c].lock = 0;
		cls[c].free = NULL;
		cls[c].bump = cls[c].end = NULL;
	}
}
