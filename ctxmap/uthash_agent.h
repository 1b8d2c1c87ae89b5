/*
 * uthash_agent.h - uthash as the maps use it; included in place of
 * <uthash.h>, by the map's .c file only (uthash stays inside the maps).
 *
 * - Memory is the agent's own (base/mem.h), never the host's allocator,
 *   which may wait for a thread that waits for the map's lock.
 * - An 8-byte key (an object's address, an epoll registration's data, a
 *   timer_t) is hashed by one multiply (the golden-ratio constant of
 *   Fibonacci hashing; the product's top half, where every bit of the key
 *   counts: uthash takes a bucket from the low bits) and matched by one
 *   compare, in place of uthash's byte-wise Jenkins hash and a memcmp
 *   call: about 93 instructions a lookup in the condvar map, 30 with
 *   these. Any other length keeps uthash's own.
 */
#ifndef CTXMAP_UTHASH_AGENT_H
#define CTXMAP_UTHASH_AGENT_H

#include <stdint.h>
#include <string.h>
#include "base/mem.h"

#define uthash_malloc(sz) mem_alloc(sz)
#define uthash_free(ptr, sz) mem_free((ptr), (sz))

static inline unsigned key8_hash(const void *k)
{
	uint64_t v;

	memcpy(&v, k, sizeof v);
	return (unsigned)((v * 0x9e3779b97f4a7c15ull) >> 32);
}

static inline int key8_cmp(const void *a, const void *b)
{
	uint64_t x, y;

	memcpy(&x, a, sizeof x);
	memcpy(&y, b, sizeof y);
	return x != y;
}

#define HASH_FUNCTION(keyptr, keylen, hashv) do { \
		if ((keylen) == 8) \
			(hashv) = key8_hash(keyptr); \
		else \
			HASH_JEN(keyptr, keylen, hashv); \
	} while (0)
#define HASH_KEYCMP(a, b, n) ((n) == 8 ? key8_cmp(a, b) : memcmp(a, b, n))
#include <uthash.h>

#endif
