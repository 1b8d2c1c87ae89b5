/*
 * exit_churn.c - threads end while fd 2 is redirected over and over: two
 * threads make short-lived detached threads without pause, each of which
 * writes a partial line inside a request and ends (its held bytes go out
 * at its exit); a third opens FILE and dup2()s it onto fd 2 every 300 us
 * (each dup2 writes every thread's held bytes for fd 2 first). After 300
 * ms, main writes a partial line and calls exit(5).
 * Usage: exit_churn FILE
 */
#include <fcntl.h>
#include <pthread.h>

#include "target.h"

static const char *file;

static void *short_lived(void *arg)
{
	(void)arg;
	write_all(2, "short-lived part;", 17);
	return NULL;
}

static void *maker(void *arg)
{
	pthread_attr_t at;

	(void)arg;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;

		if (pthread_create(&t, &at, short_lived, NULL) != 0)
			usleep(100);
	}
	return NULL;
}

static void *redirector(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		usleep(300);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc < 2)
		return 2;
	file = argv[1];
	take_request("churn-1");
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, maker, NULL) != 0)
			return 3;
	if (pthread_create(&t, NULL, redirector, NULL) != 0)
		return 3;
	usleep(300000);
	write_all(2, "main part", 9);
	exit(5);
}
