/*
 * hash.h - the 64-bit FNV-1a hash (Fowler, Noll, Vo: offset basis and prime
 * of the 64-bit variant), for recognising bytes seen before. Not for
 * anything an attacker must not collide. Depends on nothing.
 */
#ifndef BASE_HASH_H
#define BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* Continues hash h over p[0, n); start with FNV_OFFSET. */
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

#endif
