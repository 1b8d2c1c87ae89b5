/*
 * pool.c - the worst realistic case for the hand-off rules: a pipe-fed
 * worker pool. One producer thread, which has a context (a request read
 * from a loopback connection, as a server's acceptor has), writes one job
 * pointer per job into a pipe at RATE jobs/s for SECONDS; WORKERS threads
 * each read one pointer per job, do a little work (a hash of 256 bytes)
 * and write one log line to fd 2. Under the agent every job write records
 * the producer's context and every read takes it.
 *
 *   pool WORKERS RATE SECONDS
 *
 * Prints: jobs <tab> N <tab> seconds <tab> S <tab> rate <tab> jobs/s done
 *         <tab> cpu_ns_per_job <tab> process CPU time (all threads) per job
 */
#include "bench.h"     /* first: it defines _GNU_SOURCE */

#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>

#define MAXW 64
#define BATCH 100          /* jobs written per pacing step */

struct job {
	uint64_t seq;
	unsigned char data[256];
};

static int pfd[2];
static unsigned long done[MAXW];

static void *worker(void *arg)
{
	long w = (long)arg;
	struct job *j;

	for (;;) {
		ssize_t r = read(pfd[0], &j, sizeof j);
		uint64_t h = 1469598103934665603ull;

		if (r == 0)
			return NULL;
		if (r != (ssize_t)sizeof j)
			die("read");
		for (size_t i = 0; i < sizeof j->data; i++)
			h = (h ^ j->data[i]) * 1099511628211ull;
		fprintf(stderr, "job %llu worker %ld hash %016llx\n", (unsigned long long)j->seq, w,
			(unsigned long long)h);
		free(j);
		done[w]++;
	}
}

int main(int argc, char **argv)
{
	pthread_t t[MAXW];
	struct sockaddr_in addr;
	int nworkers, lsn;
	double rate, seconds, t0, cpu0, secs;
	unsigned long jobs = 0, total = 0;

	bench_name = "pool";
	if (argc != 4) {
		fprintf(stdout, "usage: pool WORKERS RATE SECONDS\n");
		return 2;
	}
	nworkers = atoi(argv[1]);
	rate = atof(argv[2]);
	seconds = atof(argv[3]);
	if (nworkers < 1 || nworkers > MAXW || rate <= 0 || seconds <= 0)
		return 2;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe2");
	lsn = bench_listener(&addr);
	bench_take_context(lsn, &addr, 1);   /* the producer's request */
	for (long i = 0; i < nworkers; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			die("pthread_create");
	t0 = now();
	cpu0 = cpu_now();
	for (;;) {
		double due = t0 + (double)jobs / rate, wait = due - now();

		if (wait > 0) {
			struct timespec ts = { 0, (long)(wait * 1e9) };

			nanosleep(&ts, NULL);
		}
		if (now() - t0 >= seconds)
			break;
		for (int k = 0; k < BATCH; k++, jobs++) {
			struct job *j = malloc(sizeof *j);

			if (j == NULL)
				die("malloc");
			j->seq = jobs;
			memset(j->data, (int)(jobs & 0xff), sizeof j->data);
			if (write(pfd[1], &j, sizeof j) != (ssize_t)sizeof j)
				die("write");
		}
	}
	close(pfd[1]);
	for (int i = 0; i < nworkers; i++) {
		pthread_join(t[i], NULL);
		total += done[i];
	}
	secs = now() - t0;
	printf("jobs\t%lu\tseconds\t%.4f\trate\t%.0f\tcpu_ns_per_job\t%.1f\n", total, secs,
	       (double)total / secs, (cpu_now() - cpu0) * 1e9 / (double)total);
	return total == jobs ? 0 : 1;
}
