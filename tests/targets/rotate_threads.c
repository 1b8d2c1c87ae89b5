/*
 * rotate_threads.c - log rotation by dup2 while threads write: four
 * threads, each inside its own request (X-Request-Id rot-w0..rot-w3),
 * write numbered whole lines "w<i> line <n>" to fd 2, and a fifth, inside
 * rot-h, writes "h<n> begin;" and after a millisecond "h<n> end" with the
 * newline (a partial line held across rotations; with ROT_HOLDER set in
 * the environment). Main opens DIR/log.<r> and dup2()s it onto fd 2 (or,
 * with `freopen`, freopen()s stderr on it) every 2 ms, ROUNDS times, then
 * stops the threads. stdout: "lines <i> <count>" for each worker, "holder
 * <count>", and "redirect mean_us <x> worst_us <y>" (what each dup2 or
 * freopen took).
 * Usage: rotate_threads DIR ROUNDS [dup2|freopen]
 */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "target.h"

#define WORKERS 4
#define MAX_LINES 150000

static volatile int stop;
static long written[WORKERS];
static long held_lines;

static void *worker(void *arg)
{
	long i = (long)arg, n;
	char id[16], line[64];

	snprintf(id, sizeof id, "rot-w%ld", i);
	take_request(id);
	for (n = 0; !stop && n < MAX_LINES; n++) {
		int len = snprintf(line, sizeof line, "w%ld line %ld\n", i, n);

		write_all(2, line, (size_t)len);
	}
	written[i] = n;
	return NULL;
}

static void *holder(void *arg)
{
	long n;
	char part[64];

	(void)arg;
	take_request("rot-h");
	for (n = 0; !stop; n++) {
		int len = snprintf(part, sizeof part, "h%ld begin;", n);

		write_all(2, part, (size_t)len);
		usleep(1000);
		len = snprintf(part, sizeof part, "h%ld end\n", n);
		write_all(2, part, (size_t)len);
	}
	held_lines = n;
	return NULL;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int open_log(const char *dir, int r)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/log.%d", dir, r);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (fd < 0)
		die(path);
	return fd;
}

int main(int argc, char **argv)
{
	pthread_t t[WORKERS + 1];
	double total = 0, worst = 0;
	int rounds, fd;
	bool use_freopen = argc > 3 && strcmp(argv[3], "freopen") == 0;

	if (argc < 3)
		return 2;
	rounds = atoi(argv[2]);
	fd = open_log(argv[1], 0);
	if (dup2(fd, 2) < 0)
		die("dup2");
	close(fd);
	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			return 3;
	if (getenv("ROT_HOLDER") && pthread_create(&t[WORKERS], NULL, holder, NULL) != 0)
		return 3;
	for (int r = 1; r <= rounds; r++) {
		double a, d;

		usleep(2000);
		if (use_freopen) {
			char path[512];

			snprintf(path, sizeof path, "%s/log.%d", argv[1], r);
			a = now_us();
			if (freopen(path, "w", stderr) == NULL)
				die("freopen");
			d = now_us() - a;
			fd = -1;
		} else {
			fd = open_log(argv[1], r);
			a = now_us();
			if (dup2(fd, 2) < 0)
				die("dup2");
			d = now_us() - a;
		}
		total += d;
		if (d > worst)
			worst = d;
		if (fd >= 0)
			close(fd);
	}
	stop = 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	if (getenv("ROT_HOLDER"))
		pthread_join(t[WORKERS], NULL);
	for (int i = 0; i < WORKERS; i++)
		printf("lines %d %ld\n", i, written[i]);
	printf("holder %ld\n", held_lines);
	printf("redirect mean_us %.1f worst_us %.1f\n", total / rounds, worst);
	return 0;
}
