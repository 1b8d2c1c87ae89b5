/*
 * test_id.c - generated identifiers: shape, uniqueness across threads and
 * after a re-seed (what a forked child does), W3C non-zero rule.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/id.h"
#include "suites.h"

#define UNIT_SUITE id
#define UNIT_TCASE id

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, 17);
}

UNIT_TEST(shapes)
{
	char r[17], t[33], s[17];

	id_init();
	id_request(r);
	id_trace(t);
	id_span(s);
	ck_assert(lower_hex(r, 16));
	ck_assert(lower_hex(t, 32));
	ck_assert(lower_hex(s, 16));
	ck_assert_str_ne(t, "00000000000000000000000000000000");
	ck_assert_str_ne(s, "0000000000000000");
}

/* id_mix's steps undone, last first: an xor-shift by s is undone by
 * xoring in shifts by s, 2s, 3s, ...; a multiplication by an odd M by the
 * multiplication by M's inverse mod 2^64. Written from id.c's constants:
 * change them together. */
static uint64_t unshift(uint64_t y, int s)
{
	uint64_t x = y;

	for (int k = s; k < 64; k += s)
		x ^= y >> k;
	return x;
}

static uint64_t inverse(uint64_t m)
{
	uint64_t x = m;           /* Newton: correct to 3 bits, doubling each step */

	for (int i = 0; i < 5; i++)
		x *= 2 - m * x;
	return x;
}

static uint64_t unmix(uint64_t x)
{
	x = unshift(x, 31);
	x *= inverse(0x94d049bb133111ebULL);
	x = unshift(x, 27);
	x *= inverse(0xbf58476d1ce4e5b9ULL);
	return unshift(x, 30);
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* id_mix is a bijection: it has an inverse. Checked on inputs spread over
 * all 64 bits (every single bit, every pair of bits, a multiplicative walk
 * of the whole range) and on small counters; and the images of those inputs
 * are pairwise distinct. A mix that loses a bit (an even multiplier) fails
 * both. */
UNIT_TEST(mix_is_bijective)
{
	enum { WALK = 200000 };
	size_t cap = WALK + 64 * 64 + 64 + 1, n = 0;
	uint64_t *in = malloc(cap * sizeof *in), *out = malloc(cap * sizeof *out);

	in[n++] = 0;
	for (int b = 0; b < 64; b++) {
		in[n++] = 1ULL << b;
		for (int c = b + 1; c < 64; c++)
			in[n++] = (1ULL << b) | (1ULL << c);
	}
	for (uint64_t i = 0, x = 0; i < WALK; i++, x += 0x9e3779b97f4a7c15ULL)
		in[n++] = i & 1 ? x : i;
	qsort(in, n, sizeof *in, cmp64);
	for (size_t i = 1, m = 1; i <= n; i++) {    /* distinct inputs only */
		if (i == n) {
			n = m;
			break;
		}
		if (in[i] != in[m - 1])
			in[m++] = in[i];
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = id_mix(in[i]);
		ck_assert_msg(unmix(out[i]) == in[i], "id_mix(%#llx) = %#llx, not invertible",
			      (unsigned long long)in[i], (unsigned long long)out[i]);
	}
	qsort(out, n, sizeof *out, cmp64);
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(out[i] != out[i - 1], "two inputs mix to %#llx",
			      (unsigned long long)out[i]);
	free(in);
	free(out);
}

#define PER_THREAD 20000
#define THREADS 4
static char ids[THREADS * PER_THREAD * 2][17];

static void *make(void *arg)
{
	size_t base = (size_t)(uintptr_t)arg * PER_THREAD;

	for (size_t i = 0; i < PER_THREAD; i++)
		id_request(ids[base + i]);
	return NULL;
}

UNIT_TEST(unique_across_threads_and_reseed)
{
	pthread_t t[THREADS];
	size_t n = THREADS * PER_THREAD;

	id_init();
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, make, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	/* A forked child re-seeds: its IDs must not collide with the parent's. */
	id_init();
	for (size_t i = 0; i < n; i++)
		id_request(ids[n + i]);
	qsort(ids, 2 * n, sizeof ids[0], cmp);
	for (size_t i = 1; i < 2 * n; i++)
		ck_assert_msg(memcmp(ids[i], ids[i - 1], 17) != 0, "duplicate %s", ids[i]);
}

Suite *id_suite(void)
{
	Suite *s = suite_create("id");
	TCase *t = unit_tcase("id", "id");

	suite_add_tcase(s, t);
	return s;
}
