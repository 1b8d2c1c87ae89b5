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

UNIT_TEST(mix_is_bijective_on_sample)
{
	/* Distinct inputs give distinct outputs (spot check of invertibility). */
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof *v);

	for (uint64_t i = 0; i < N; i++)
		v[i] = id_mix(i);
	for (uint64_t i = 1; i < N; i++)
		ck_assert(v[i] != v[i - 1]);
	free(v);
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
