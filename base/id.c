/*
 * id.c - identifier generation. Distinct counter values always give
 * distinct request IDs within a process because id_mix() is a bijection;
 * the random key makes IDs of different processes independent.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/id.h"

static uint64_t keys[4];
static uint64_t counter;

uint64_t id_mix(uint64_t x)
{
	/* Each step (xor-shift, multiply by an odd constant) is invertible. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

void id_init(void)
{
	uint64_t k[4];
	ssize_t n = getrandom(k, sizeof k, GRND_NONBLOCK);

	if (n != (ssize_t)sizeof k) {
		/* Early boot without entropy: still distinct per process. */
		struct timespec t;

		clock_gettime(CLOCK_MONOTONIC, &t);
		k[0] = id_mix((uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 32));
		k[1] = id_mix(k[0] ^ (uint64_t)t.tv_sec);
		k[2] = id_mix(k[1] ^ (uint64_t)(uintptr_t)&t);
		k[3] = id_mix(k[2] + 1);
	}
	memcpy(keys, k, sizeof keys);
	/* A new counter base too, so a child's IDs never replay its parent's
	 * sequence under the (new) keys. */
	__atomic_store_n(&counter, id_mix(k[3]), __ATOMIC_RELAXED);
}

/* 16 lowercase hex digits, a byte at a time from a table. */
static void hex64(char *out, uint64_t v)
{
	static const char pairs[] =
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
		"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
		"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
		"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
		"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

	for (int i = 7; i >= 0; i--) {
		memcpy(out + 2 * i, pairs + 2 * (v & 0xff), 2);
		v >>= 8;
	}
}

static uint64_t next(void)
{
	return __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
}

void id_request(char out[17])
{
	hex64(out, id_mix(next() ^ keys[0]));
	out[16] = '\0';
}

void id_trace(char out[33])
{
	uint64_t n = next();
	uint64_t hi = id_mix(n ^ keys[1]), lo = id_mix(n + keys[2]);

	if ((hi | lo) == 0)
		lo = 1;
	hex64(out, hi);
	hex64(out + 16, lo);
	out[32] = '\0';
}

void id_span(char out[17])
{
	uint64_t v = id_mix(next() + keys[3]);

	hex64(out, v ? v : 1);
	out[16] = '\0';
}
