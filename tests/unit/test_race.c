/*
 * test_race.c - the agent's shared structures hammered from several threads
 * at once: fd tags taken and replaced while others read them, channels
 * written and read across threads, epoll registrations changed while being
 * resolved, tagged lines written by many threads to one pipe. Each test
 * also checks its outcome (every reference returned, every byte and line
 * accounted for), and under `make unit SAN=thread` (run by .ci/run)
 * ThreadSanitizer watches the same code for races: a report fails the test.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ctxmap/chan.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "ctxmap/epmap.h"
#include "ctxmap/fdmap.h"
#include "base/id.h"
#include "agent/out.h"
#include "base/real.h"
#include "suites.h"

#define UNIT_SUITE race
#define UNIT_TCASE race

#define THREADS 4
#define ROUNDS 20000
#define FD 4000

static struct config cfg;

static void setup(void)
{
	/* As agent_start() does before any hook runs: every real function
	 * resolved, so no two threads resolve one lazily at once (a race
	 * TSan reported in 1 run in 2 to 6 of this suite). */
	real_resolve_all();
	config_load(&cfg, NULL, NULL, NULL);
	agent_config = &cfg;
	id_init();
	out_init();
}

static void *tagger(void *arg)
{
	struct fdslot *s = fdmap_slot(FD);

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct ctx *c = ctx_new(NULL), *got;

		fdmap_tag(s, c);                /* replaces another thread's */
		ctx_put(c);
		got = fdmap_ctx_get(s);         /* never a freed one */
		if (got) {
			ck_assert_uint_gt(__atomic_load_n(&got->refs, __ATOMIC_RELAXED), 0);
			ck_assert_uint_eq(ctx_name(got)->id_len, 16);
			ctx_take_current(got);
		}
	}
	ctx_take_current(NULL);
	return NULL;
}

UNIT_TEST(tags_replaced_while_read)
{
	pthread_t t[THREADS];
	long live0 = ctx_live();

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, tagger, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	fdmap_reset(FD, FD_UNKNOWN);
	ck_assert_int_eq(ctx_live(), live0);
}

static struct chan *shared;
static struct ctx *writers[THREADS];

static void *chan_writer(void *arg)
{
	long k = (long)arg;

	for (int i = 0; i < ROUNDS; i++)
		chan_wrote(shared, writers[k], 3, NULL, false);
	return NULL;
}

static long taken_units;

static void *chan_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS * 3; i++) {
		struct ctx *c;

		if (chan_read(shared, 1, NULL, 0, false, &c)) {
			__atomic_add_fetch(&taken_units, 1, __ATOMIC_RELAXED);
			ctx_put(c);
		}
	}
	return NULL;
}

UNIT_TEST(channel_across_threads)
{
	pthread_t w[2], r[2];
	long live0 = ctx_live();

	shared = chan_new(false, false);
	for (int i = 0; i < 2; i++)
		writers[i] = ctx_new(NULL);
	for (long i = 0; i < 2; i++) {
		pthread_create(&w[i], NULL, chan_writer, (void *)i);
		pthread_create(&r[i], NULL, chan_reader, NULL);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i], NULL);
		pthread_join(r[i], NULL);
	}
	/* Every unit written was read once or is still pending. */
	ck_assert_uint_eq((uint64_t)taken_units + chan_pending(shared), 2 * ROUNDS * 3);
	chan_unref(shared);
	for (int i = 0; i < 2; i++)
		ctx_put(writers[i]);
	ck_assert_int_eq(ctx_live(), live0);
}

static int stop;

static void *registrar(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		epmap_ctl(300, EPOLL_CTL_ADD, 301 + i % 8, (uint64_t)(i % 8), EPOLLIN);
		epmap_ctl(300, EPOLL_CTL_MOD, 301 + i % 8, (uint64_t)(i % 8), EPOLLIN);
		epmap_forget_fd(301 + i % 8);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *resolver(void *arg)
{
	struct epoll_event ev[8];
	int fds[8];
	uint64_t gens[8];

	(void)arg;
	for (int i = 0; i < 8; i++)
		ev[i].data.u64 = (uint64_t)i;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		epmap_resolve(300, 8, ev, fds, gens);
		for (int i = 0; i < 8; i++)
			ck_assert(fds[i] == -2 || fds[i] == -1 || fds[i] == 301 + i);
	}
	return NULL;
}

UNIT_TEST(registrations_change_while_resolved)
{
	pthread_t a, b;

	__atomic_store_n(&fdmap_slot(300)->kind, FD_EPOLL, __ATOMIC_RELAXED);
	epmap_instance(300);
	stop = 0;
	pthread_create(&a, NULL, registrar, NULL);
	pthread_create(&b, NULL, resolver, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	epmap_drop_instance(300);
	ck_assert_int_eq(epmap_count(), 0);
}

static int lines_pipe[2];

#define LINES 500

/* Writer k runs in context "wk" and writes LINES lines, each in two pieces,
 * naming itself in the payload: "part of a line from wk". */
static void *line_writer(void *arg)
{
	char id[8], who[16];
	struct ctx_seed seed = { .id = id };
	int n = snprintf(who, sizeof who, " from w%ld\n", (long)arg);

	seed.id_len = (size_t)snprintf(id, sizeof id, "w%ld", (long)arg);
	ctx_take_current(ctx_new(&seed));
	for (int i = 0; i < LINES; i++) {
		struct iovec a = { "part of a line", 14 }, b = { who, (size_t)n };

		out_write(lines_pipe[1], &a, 1, OUT_CALL_WRITEV);
		out_write(lines_pipe[1], &b, 1, OUT_CALL_WRITEV);
	}
	out_thread_exit();
	ctx_take_current(NULL);
	return NULL;
}

static void *line_reader(void *arg)
{
	static char buf[1 << 20];
	size_t n = 0;
	ssize_t r;

	(void)arg;
	while ((r = read(lines_pipe[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return buf;
}

/* Every line carries the prefix of the thread that wrote it, whole: each
 * writer's own ID is in its payload, and each writer has exactly LINES
 * lines, so a line tagged with another writer's ID, cut, or lost fails. */
UNIT_TEST(lines_from_many_threads)
{
	pthread_t w[THREADS], rd;
	char *all, *line, *save = NULL;
	int per_writer[THREADS] = { 0 };

	ck_assert_int_eq(pipe(lines_pipe), 0);
	pthread_create(&rd, NULL, line_reader, NULL);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&w[i], NULL, line_writer, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	close(lines_pipe[1]);
	pthread_join(rd, (void **)&all);
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int k = -1, end = 0;
		char want[64];

		ck_assert_msg(sscanf(line, "[w%d] part of a line from w%*d%n", &k, &end) == 1 &&
			      end == (int)strlen(line) && k >= 0 && k < THREADS,
			      "malformed line: %s", line);
		snprintf(want, sizeof want, "[w%d] part of a line from w%d", k, k);
		ck_assert_str_eq(line, want);
		per_writer[k]++;
	}
	for (int k = 0; k < THREADS; k++)
		ck_assert_msg(per_writer[k] == LINES, "writer w%d: %d lines, expected %d",
			      k, per_writer[k], LINES);
}

/* A context renamed by its request's head (ctx_adopt) while other threads
 * read its name: each reader sees the generated name or the adopted one,
 * whole (ID, its length and the trace belong together), and after the
 * rename only the adopted one. */
static struct ctx *renamed;
static int rename_done;
static char generated[CTX_ID_MAX + 1];

static void *name_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		int done = __atomic_load_n(&rename_done, __ATOMIC_ACQUIRE);
		const struct ctx_name *n = ctx_name(renamed);

		if (n->id_len == 16)
			ck_assert(!done && strcmp(n->id, generated) == 0);
		else
			ck_assert(n->id_len == 9 && strcmp(n->id, "req-adopt") == 0 &&
				  n->origin == CTX_ADOPTED);
	}
	return NULL;
}

UNIT_TEST(adopt_renames_in_place_for_every_holder)
{
	struct ctx_seed seed = { .id = "req-adopt", .id_len = 9 };
	pthread_t t[THREADS];
	char trace[33];

	renamed = ctx_new(NULL);
	rename_done = 0;
	strcpy(generated, ctx_name(renamed)->id);
	strcpy(trace, ctx_name(renamed)->trace_id);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, name_reader, NULL);
	ck_assert(ctx_adopt(renamed, &seed));
	__atomic_store_n(&rename_done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_str_eq(ctx_name(renamed)->id, "req-adopt");
	ck_assert_str_eq(ctx_name(renamed)->trace_id, trace);   /* no traceparent: kept */
	ck_assert(!ctx_adopt(renamed, &seed));                   /* once per context */
	ctx_put(renamed);
}

Suite *race_suite(void)
{
	Suite *s = suite_create("race");
	TCase *t = unit_tcase("race", "race");

	tcase_set_timeout(t, 120);
	tcase_add_unchecked_fixture(t, setup, NULL);
	suite_add_tcase(s, t);
	return s;
}
