/*
 * epoll_edges - epoll waits the agent must answer as the kernel does while
 * it holds buffered events (tests/integration/t_epoll_edges compares the
 * output with and without the agent, or checks it):
 *   args     three pipes ready, one wait takes an event; then waits with
 *            maxevents 0 and -1, an unmapped events array and one that
 *            can be read but not written: EINVAL, EINVAL, EFAULT, EFAULT
 *            (the kernel's), not a buffered event (nor a fault), also
 *            for the wait that fetches a batch; the events kept
 *   fork     three edge-triggered pipes ready, one wait takes an event,
 *            fork: the child's waits see none of the parent's events
 *            (prints only the child's, after the parent's "first")
 *   handler  SECONDS: three pipes always ready, waits in a loop while a
 *            SIGALRM handler every 50 us waits on the same instance;
 *            prints "bad=N" (events whose data is not one of the pipes)
 * Three modes where another thread changes a registration while the main
 * thread's wait is on, run with tests/targets/lib/slowctl.c preloaded
 * after the agent to open the window (pipes A, data 100, registered first
 * and B, data 101, both ready; the main thread prints each wait's events
 * and drains their pipes):
 *   lagadd   the thread adds B (SLOWCTL_CTL_US: the kernel has it long
 *            before the call returns) while the main thread waits; then
 *            the main thread deletes whichever of A and B the wait did not
 *            return, and waits again: the kernel reports nothing more
 *   lagdel   A and B registered; the thread deletes B after the kernel
 *            reported both (SLOWCTL_WAIT_US), then the main thread deletes
 *            what the wait did not return and waits again, as lagadd
 *   lagmod   B registered EPOLLONESHOT and disarmed; the thread re-arms it
 *            (EPOLL_CTL_MOD, SLOWCTL_CTL_US) while the main thread waits;
 *            the two waits must report B once between them
 * And three where events the agent keeps must not be lost or outlive
 * their registration (prints counts):
 *   shared   pipe A (data 100) and pipes B and C behind one data value
 *            (200), all ready; one wait, then B and C deleted: no event
 *            of 200 after that
 *   exit     two one-shot pipes ready; a thread waits once, reads what it
 *            got and ends; the main thread then waits: both reported once
 *   epclose  two one-shot pipes ready; one wait, then the instance's
 *            number is dup'ed and the first closed; waits on the new
 *            number: both reported once
 *   epdup2   the same, the first number replaced by dup2 of another fd
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ep;
static volatile long handler_bad;

static void ready_pipes(unsigned flags)
{
	for (int i = 0; i < 3; i++) {
		int p[2];
		struct epoll_event ev = { .events = EPOLLIN | flags, .data.u64 = 100 + (uint64_t)i };

		if (pipe(p) < 0 || write(p[1], "x", 1) != 1 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0) {
			perror("setup");
			exit(2);
		}
	}
}

static void show(const char *what, int r, const struct epoll_event *ev)
{
	if (r < 0)
		printf("%s r=-1 %s\n", what, strerror(errno));
	else if (r == 0)
		printf("%s r=0\n", what);
	else
		printf("%s r>0 data=%llu\n", what, (unsigned long long)ev[0].data.u64);
	fflush(stdout);
}

static void on_alarm(int sig)
{
	struct epoll_event o[3];
	int r = epoll_wait(ep, o, 3, 0);

	(void)sig;
	for (int i = 0; i < r; i++)
		if (o[i].data.u64 < 100 || o[i].data.u64 > 102 || o[i].events != EPOLLIN)
			handler_bad++;
}

static int lag_pipe[2][2], lag_sync[2];
static const char *lag_mode;

static void *lag_thread(void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 101 };
	int r;

	(void)arg;
	usleep(100 * 1000);
	if (strcmp(lag_mode, "lagadd") == 0)
		r = epoll_ctl(ep, EPOLL_CTL_ADD, lag_pipe[1][0], &ev);
	else if (strcmp(lag_mode, "lagdel") == 0)
		r = epoll_ctl(ep, EPOLL_CTL_DEL, lag_pipe[1][0], NULL);
	else {
		ev.events = EPOLLIN | EPOLLONESHOT;
		r = epoll_ctl(ep, EPOLL_CTL_MOD, lag_pipe[1][0], &ev);
	}
	if (r < 0)
		perror("lag thread");
	return NULL;
}

/* Prints a wait's events (data values in order) and drains their pipes;
 * returns the mask of pipes it returned (1: A, 2: B). */
static int lag_show(const char *what, int r, const struct epoll_event *o)
{
	char c;
	int seen = 0;

	printf("%s r=%d", what, r);
	for (int i = 0; i < r; i++) {
		int k = (int)o[i].data.u64 - 100;

		printf(" %llu", (unsigned long long)o[i].data.u64);
		if (k == 0 || k == 1) {
			seen |= 1 << k;
			if (read(lag_pipe[k][0], &c, 1) != 1)
				printf("(empty)");
		}
	}
	printf("\n");
	fflush(stdout);
	return seen;
}

static int lag(void)
{
	struct epoll_event a = { .events = EPOLLIN, .data.u64 = 100 };
	struct epoll_event b = { .events = EPOLLIN, .data.u64 = 101 };
	struct epoll_event o[8];
	pthread_t t;
	int seen;

	for (int k = 0; k < 2; k++)
		if (pipe(lag_pipe[k]) < 0 || write(lag_pipe[k][1], "x", 1) != 1)
			return 2;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lag_pipe[0][0], &a) < 0)
		return 2;
	if (strcmp(lag_mode, "lagmod") == 0)
		b.events = EPOLLONESHOT;    /* disarmed until the thread's MOD */
	if (strcmp(lag_mode, "lagadd") != 0 && epoll_ctl(ep, EPOLL_CTL_ADD, lag_pipe[1][0], &b) < 0)
		return 2;
	if (strcmp(lag_mode, "lagdel") != 0) {
		/* the thread's epoll_ctl tells (libslowctl.so) once the kernel
		 * has its change: the wait begins inside that call */
		char nfd[16];

		if (pipe(lag_sync) < 0)
			return 2;
		snprintf(nfd, sizeof nfd, "%d", lag_sync[1]);
		setenv("SLOWCTL_NOTIFY_FD", nfd, 1);
	}
	if (pthread_create(&t, NULL, lag_thread, NULL) != 0)
		return 2;
	if (strcmp(lag_mode, "lagdel") != 0) {
		char c;

		if (read(lag_sync[0], &c, 1) != 1)
			return 2;
	}
	seen = lag_show("first", epoll_wait(ep, o, 8, 2000), o);
	pthread_join(t, NULL);
	if (strcmp(lag_mode, "lagmod") != 0)
		for (int k = 0; k < 2; k++)
			if (!(seen & 1 << k))
				epoll_ctl(ep, EPOLL_CTL_DEL, lag_pipe[k][0], NULL);
	lag_show("second", epoll_wait(ep, o, 8, 0), o);
	return 0;
}

/* Waits (timeout 0) until nothing is left; reads one byte from the pipe
 * of each event (data 100 + k: pipe k of p). Returns the events seen. */
static int drain_waits(int (*p)[2], int *seen200)
{
	struct epoll_event o[8];
	int total = 0, r;
	char c;

	while ((r = epoll_wait(ep, o, 8, 0)) > 0)
		for (int i = 0; i < r; i++, total++) {
			if (o[i].data.u64 == 200) {
				(*seen200)++;
				continue;
			}
			if (read(p[o[i].data.u64 - 100][0], &c, 1) != 1)
				printf("(empty)");
		}
	return total;
}

static int kept_p[3][2];

static void *exit_thread(void *arg)
{
	struct epoll_event o[8];
	int r = epoll_wait(ep, o, 8, 0), *got = arg;
	char c;

	for (int i = 0; i < r; i++)
		if (read(kept_p[o[i].data.u64 - 100][0], &c, 1) == 1)
			(*got)++;
	return NULL;
}

static int kept(const char *mode)
{
	int seen200 = 0, total = 0;

	for (int k = 0; k < 3; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 100 + (uint64_t)k };

		if (pipe(kept_p[k]) < 0 || write(kept_p[k][1], "x", 1) != 1)
			return 2;
		if (strcmp(mode, "shared") == 0) {
			if (k > 0)
				ev.data.u64 = 200;
		} else if (k == 2) {
			break;
		} else {
			ev.events |= EPOLLONESHOT;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, kept_p[k][0], &ev) < 0)
			return 2;
	}
	if (strcmp(mode, "shared") == 0) {
		struct epoll_event o[8];

		if (epoll_wait(ep, o, 8, 0) <= 0)
			return 3;
		epoll_ctl(ep, EPOLL_CTL_DEL, kept_p[1][0], NULL);
		epoll_ctl(ep, EPOLL_CTL_DEL, kept_p[2][0], NULL);
		drain_waits(kept_p, &seen200);
		printf("events of the deleted data value after the delete: %d\n", seen200);
	} else if (strcmp(mode, "exit") == 0) {
		pthread_t t;
		int got = 0;

		if (pthread_create(&t, NULL, exit_thread, &got) != 0)
			return 2;
		pthread_join(t, NULL);
		total = got + drain_waits(kept_p, &seen200);
		printf("one-shot events reported: %d\n", total);
	} else {
		struct epoll_event o[8];
		int r = epoll_wait(ep, o, 8, 0), other;
		char c;

		for (int i = 0; i < r; i++, total++)
			if (read(kept_p[o[i].data.u64 - 100][0], &c, 1) != 1)
				printf("(empty)");
		other = dup(ep);
		if (strcmp(mode, "epdup2") == 0) {
			if (dup2(kept_p[0][1], ep) != ep)
				return 2;
		} else {
			close(ep);
		}
		ep = other;
		total += drain_waits(kept_p, &seen200);
		printf("one-shot events reported: %d\n", total);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct epoll_event o[8];
	const char *mode = argc > 1 ? argv[1] : "args";

	ep = epoll_create1(0);
	if (strcmp(mode, "shared") == 0 || strcmp(mode, "exit") == 0 || strcmp(mode, "epclose") == 0 ||
	    strcmp(mode, "epdup2") == 0)
		return kept(mode);
	if (strncmp(mode, "lag", 3) == 0) {
		lag_mode = mode;
		return lag();
	}
	if (strcmp(mode, "args") == 0) {
		/* through volatiles: the compiler would warn of what the test is */
		volatile int zero = 0, neg = -1;
		struct epoll_event *volatile bad = (struct epoll_event *)8;

		ready_pipes(0);
		show("first", epoll_wait(ep, o, 8, 0) > 0 ? 1 : 0, o);
		show("max0", epoll_wait(ep, o, zero, 0), o);
		show("max-1", epoll_wait(ep, o, neg, 0), o);
		show("badptr", epoll_wait(ep, bad, 8, 0), o);
		{
			/* a page it can write, then one it can only read */
			char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			struct epoll_event *ro = (struct epoll_event *)(two + 4096);

			if (two == MAP_FAILED || mprotect(ro, 4096, PROT_READ) < 0) {
				perror("mmap");
				exit(2);
			}
			show("readonly", epoll_wait(ep, ro, 8, 0), o);
			show("readonly pwait", epoll_pwait(ep, ro, 8, 0, NULL), o);
			/* the first event's data in the page it cannot write */
			show("readonly edge", epoll_wait(ep, (struct epoll_event *)((char *)ro - 4), 8, 0), o);
			/* a new instance: the wait that fetches the batch */
			ep = epoll_create1(0);
			ready_pipes(0);
			show("readonly first", epoll_wait(ep, ro, 8, 0), o);
			show("after", epoll_wait(ep, o, 8, 0) > 0 ? 1 : 0, o);
		}
		show("pwait max0", epoll_pwait(ep, o, zero, 0, NULL), o);
	} else if (strcmp(mode, "fork") == 0) {
		pid_t pid;

		ready_pipes(EPOLLET);
		printf("first r>0\n");
		fflush(stdout);
		if (epoll_wait(ep, o, 8, 0) <= 0)
			return 3;
		pid = fork();
		if (pid == 0) {
			for (int i = 0; i < 3; i++)
				show("child", epoll_wait(ep, o, 8, 0), o);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	} else {
		struct itimerval it = { { 0, 50 }, { 0, 50 } };
		time_t end = time(NULL) + (argc > 2 ? atoi(argv[2]) : 1);
		long bad = 0, n = 0;

		ready_pipes(0);
		signal(SIGALRM, on_alarm);
		setitimer(ITIMER_REAL, &it, NULL);
		while (time(NULL) < end) {
			int r = epoll_wait(ep, o, 3, 0);

			for (int i = 0; i < r; i++)
				if (o[i].data.u64 < 100 || o[i].data.u64 > 102 || o[i].events != EPOLLIN)
					bad++;
			n++;
		}
		setitimer(ITIMER_REAL, &(struct itimerval){ { 0, 0 }, { 0, 0 } }, NULL);
		printf("bad=%ld handler_bad=%ld waits=%s\n", bad, handler_bad, n > 1000 ? "many" : "few");
	}
	return 0;
}
