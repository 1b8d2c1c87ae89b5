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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* 16 lowercase hex digits, the most significant first. With SSE2 all
 * sixteen at once: the bytes in output order, each split into its two
 * nibbles, interleaved, and each nibble n made '0' + n, plus 39 when it is
 * above 9 ('a' - '0' - 10). */
static void hex64(char *out, uint64_t v)
{
#if defined(__SSE2__)
	const __m128i low = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
	__m128i x = _mm_cvtsi64_si128((long long)__builtin_bswap64(v));
	__m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low), lo = _mm_and_si128(x, low);
	__m128i n = _mm_unpacklo_epi8(hi, lo);
	__m128i letters = _mm_and_si128(_mm_cmpgt_epi8(n, nine), _mm_set1_epi8(39));

	_mm_storeu_si128((__m128i *)(void *)out,
			 _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8('0')), letters));
#else
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		out[i] = digits[v & 0xf];
		v >>= 4;
	}
#endif
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
