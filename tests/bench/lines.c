/*
 * lines.c - stderr throughput: THREADS threads write short lines (60 bytes
 * with the newline) to fd 2 for SECONDS, each with write(2) or fprintf;
 * or, with writev160, log-file lines as HAProxy writes them: 160 bytes
 * with the newline, one writev(2) of two pieces (a syslog-style header and
 * the message).
 *
 *   lines THREADS write|fprintf|writev160 tagged|untagged SECONDS
 *
 * tagged: each thread first accepts its own loopback connection whose
 * request head carries X-Request-Id, so under the agent it writes with that
 * context current. untagged: one connection is accepted (and its context
 * made) by a helper thread that exits before the writers start, so the
 * agent's line writer is active but the writing threads have no context.
 * The driver redirects fd 2 (to /dev/null, to a pipe drained by cat, or
 * to a regular file opened with O_APPEND).
 * Prints: lines <tab> total <tab> seconds <tab> elapsed <tab> rate <tab> lines/s
 *         <tab> cpu_ns_per_line <tab> process CPU time (all threads) per line
 */
#include "bench.h"     /* first: it defines _GNU_SOURCE */

#include <pthread.h>
#include <stdbool.h>
#include <sys/uio.h>

#define MAXT 64

enum api { API_WRITE, API_FPRINTF, API_WRITEV160 };

static int nthreads, tagged;
static enum api api;
static double seconds;
static int lsn;
static struct sockaddr_in addr;
static pthread_barrier_t start_line;
static unsigned long counts[MAXT];
static double t_start, t_end[MAXT];

static void take_context(void)
{
	bench_take_context(lsn, &addr, rand() % 1000);
}

static void *helper(void *arg)
{
	take_context();
	return arg;
}

/* One 160-byte log line (newline included) in one writev of two pieces:
 * a 40-byte header and a 120-byte message. */
static void write_log_line(unsigned long n, long id)
{
	char head[41], msg[121];
	struct iovec iov[2] = { { head, 40 }, { msg, 120 } };
	int len;

	snprintf(head, sizeof head, "<134>Nov 30 12:00:00 bench[%02lu]: %07lu ", (unsigned long)id % 100, n % 10000000);
	len = snprintf(msg, sizeof msg, "127.0.0.1:%05lu [30/Nov/2026:12:00:00.000] fe be/srv "
		       "0/0/0/1/1 200 120 - - ---- \"GET /%08lu HTTP/1.1\"", n % 65536, n % 100000000);
	memset(msg + len, ' ', (size_t)(119 - len));
	msg[119] = '\n';
	if (writev(2, iov, 2) != 160)
		die("writev");
}

static void *writer(void *arg)
{
	long id = (long)arg;
	char line[61];
	unsigned long n = 0;
	double end;

	if (tagged)
		take_context();
	pthread_barrier_wait(&start_line);
	end = t_start + seconds;
	for (;;) {
		for (int i = 0; i < 256; i++, n++) {
			if (api == API_FPRINTF) {
				fprintf(stderr, "bench line %010lu thread %02ld abcdefghijklmnopqrstuvw\n", n, id);
			} else if (api == API_WRITEV160) {
				write_log_line(n, id);
			} else {
				int len = snprintf(line, sizeof line,
						   "bench line %010lu thread %02ld abcdefghijklmnopqrstuvw\n", n, id);

				if (write(2, line, (size_t)len) != len)
					die("write");
			}
		}
		if (now() >= end)
			break;
	}
	counts[id] = n;
	t_end[id] = now();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[MAXT];
	unsigned long total = 0;
	double last = 0, cpu0;

	bench_name = "lines";
	if (argc != 5) {
		fprintf(stdout, "usage: lines THREADS write|fprintf|writev160 tagged|untagged SECONDS\n");
		return 2;
	}
	nthreads = atoi(argv[1]);
	api = !strcmp(argv[2], "fprintf") ? API_FPRINTF :
	      !strcmp(argv[2], "writev160") ? API_WRITEV160 : API_WRITE;
	tagged = !strcmp(argv[3], "tagged");
	seconds = atof(argv[4]);
	if (nthreads < 1 || nthreads > MAXT)
		return 2;

	lsn = bench_listener(&addr);
	if (!tagged) {
		pthread_t h;

		pthread_create(&h, NULL, helper, NULL);
		pthread_join(h, NULL);
	}
	pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1);
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, writer, (void *)i) != 0)
			die("pthread_create");
	/* Every writer has taken its context and waits at the barrier. */
	t_start = now();
	pthread_barrier_wait(&start_line);
	cpu0 = cpu_now();
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		total += counts[i];
		if (t_end[i] > last)
			last = t_end[i];
	}
	printf("lines\t%lu\tseconds\t%.4f\trate\t%.0f\tcpu_ns_per_line\t%.1f\n", total, last - t_start,
	       (double)total / (last - t_start), (cpu_now() - cpu0) * 1e9 / (double)total);
	return 0;
}
