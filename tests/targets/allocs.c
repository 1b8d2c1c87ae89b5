/*
 * allocs.c - threads that allocate and wait, for t_allocators.
 * Usage: allocs THREADS ROUNDS
 * Each of THREADS threads first waits (1 ms) on a condition variable of its
 * own, made fresh, then ROUNDS times allocates, frees and writes a line
 *   thread T round R id=ID
 * (ID: reqctx_id(), "none" without one). The main thread ends with "done".
 * Started in a request (REQCTX_PARENT), every line carries its ID.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../shims/reqctx.h"

static int rounds;

static void *run(void *arg)
{
	long t = (long)arg;
	pthread_mutex_t m;
	pthread_cond_t c;
	struct timespec ts;

	pthread_mutex_init(&m, NULL);
	pthread_cond_init(&c, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&m);
	pthread_cond_timedwait(&c, &m, &ts);
	pthread_mutex_unlock(&m);
	for (int r = 0; r < rounds; r++) {
		char *p = malloc((size_t)(16 << (r % 12)));
		const char *id = reqctx_id();

		if (p == NULL)
			return NULL;
		memset(p, 'x', 16);
		fprintf(stderr, "thread %ld round %d id=%s\n", t, r, id ? id : "none");
		free(p);
	}
	pthread_cond_destroy(&c);
	pthread_mutex_destroy(&m);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 64;
	pthread_t *th = calloc((size_t)n, sizeof *th);

	rounds = argc > 2 ? atoi(argv[2]) : 2;
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, run, (void *)i) != 0)
			return 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "done\n");
	return 0;
}
