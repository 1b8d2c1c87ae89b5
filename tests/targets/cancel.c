/*
 * cancel - threads serving a request, cancelled (pthread_cancel) while
 * they write lines to stderr, then joined; the program must go on and
 * exit 0 (tests/integration/t_cancel).
 *
 *   cancel WAY
 *
 * WAY, a way of writing: fprintf, write, fputs (a partial line, then its
 * end), perror. ROUNDS times: a
 * thread takes a request (X-Request-Id "cancel-<way>-<round>") and
 * writes in a loop; the main thread cancels it a few milliseconds later
 * and joins it. Then the main thread writes "done <way>" (no request)
 * and exits 0. (glibc's own fprintf to an unbuffered stderr keeps the
 * stream's lock when cancelled inside its write: that way hangs without
 * the agent too.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "target.h"

#define ROUNDS 10

static const char *const ways[] = { "fprintf", "write", "fputs", "perror" };
static int way;

static void *writer(void *arg)
{
	char id[64];

	snprintf(id, sizeof id, "cancel-%s-%d", ways[way], (int)(long)arg);
	take_request(id);
	for (;;) {
		switch (way) {
		case 0:
			fprintf(stderr, "line %s\n", id);
			break;
		case 1: {
			char b[96];
			int n = snprintf(b, sizeof b, "line %s\n", id);

			if (write(2, b, (size_t)n) < 0)
				return NULL;
			break;
		}
		case 2:
			fputs("part of a line ", stderr);
			fputs(id, stderr);
			fputs("\n", stderr);
			break;
		case 3:
			errno = EAGAIN;
			perror(id);
			break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	way = pick_mode(argv[1], ways, (int)(sizeof ways / sizeof ways[0]));
	{
		for (long r = 0; r < ROUNDS; r++) {
			pthread_t t;
			void *ret;

			if (pthread_create(&t, NULL, writer, (void *)r) != 0)
				return 2;
			usleep(3000);
			pthread_cancel(t);
			pthread_join(t, &ret);
			if (ret != PTHREAD_CANCELED)
				return 3;
		}
		fprintf(stderr, "done %s\n", ways[way]);
	}
	return 0;
}
