/*
 * waits - a partial line, then a wait: the line must be on stderr during
 * the wait, as without the agent (tests/integration/t_waits).
 *
 *   waits KIND
 *
 * Serves a request (X-Request-Id "waits-KIND"), writes "prompt> " to
 * stderr (no newline) and waits in KIND until stdin reaches its end (the
 * test closes it once it has seen the prompt), then writes "done\n".
 * KIND: waitpid wait wait3 wait4 waitid (for a child that reads stdin),
 * join (a thread that does), sigsuspend pause (woken by SIGUSR1 from that
 * thread), sigwait sigwaitinfo sigtimedwait (SIGUSR1 blocked, taken).
 *   waits daemon      "starting... ", then daemon(1, 1); the daemon
 *                     writes "up\n" once stdin ends
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target.h"

static pthread_t main_thread;
static volatile int woke;

static void to_end_of_stdin(void)
{
	char b[64];

	while (read(0, b, sizeof b) > 0)
		;
}

/* Reads stdin to its end; with arg, then signals the main thread until it
 * is back from its wait (pause() may not have started when the first
 * signal comes). */
static void *reader(void *arg)
{
	to_end_of_stdin();
	while (arg && !woke) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(20000);
	}
	return NULL;
}

static void woken(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	static const char *const kinds[] = {
		"waitpid", "wait", "wait3", "wait4", "waitid", "join", "sigsuspend", "pause",
		"sigwait", "sigwaitinfo", "sigtimedwait", "daemon",
	};
	int k = argc == 2 ? pick_mode(argv[1], kinds, (int)(sizeof kinds / sizeof kinds[0])) : -1;
	char id[64];
	sigset_t usr1, none;
	pthread_t t;
	pid_t pid = 0;

	if (k < 0) {
		fprintf(stderr, "usage: waits KIND\n");
		return 2;
	}
	snprintf(id, sizeof id, "waits-%s", argv[1]);
	take_request(id);
	main_thread = pthread_self();
	signal(SIGUSR1, woken);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	if (k >= 8 && k <= 10)
		sigprocmask(SIG_BLOCK, &usr1, NULL);       /* taken by sigwait* */
	if (k == 11) {
		fputs("starting... ", stderr);
		if (daemon(1, 1) != 0)
			return 1;
		to_end_of_stdin();
		fputs("up\n", stderr);
		return 0;
	}
	if (k <= 4) {
		pid = fork();
		if (pid == 0) {
			to_end_of_stdin();
			_exit(0);
		}
	} else if (k == 5) {
		pthread_create(&t, NULL, reader, NULL);
	} else {
		if (k == 6 || k == 7)
			sigprocmask(SIG_BLOCK, &usr1, NULL);   /* until the wait */
		pthread_create(&t, NULL, reader, (void *)1);
	}
	fputs("prompt> ", stderr);
	switch (k) {
	case 0: waitpid(pid, NULL, 0); break;
	case 1: wait(NULL); break;
	case 2: wait3(NULL, 0, NULL); break;
	case 3: wait4(pid, NULL, 0, NULL); break;
	case 4: { siginfo_t si; waitid(P_PID, (id_t)pid, &si, WEXITED); break; }
	case 5: pthread_join(t, NULL); break;
	case 6: sigsuspend(&none); break;
	case 7: sigprocmask(SIG_UNBLOCK, &usr1, NULL); pause(); break;
	case 8: { int sig; sigwait(&usr1, &sig); break; }
	case 9: sigwaitinfo(&usr1, NULL); break;
	case 10: { struct timespec ts = { 30, 0 }; sigtimedwait(&usr1, NULL, &ts); break; }
	}
	woke = 1;
	if (k >= 6)
		pthread_join(t, NULL);
	fputs("done\n", stderr);
	return 0;
}
