/*
 * proc_copy.c - process copies made without fork(), for t_copies.
 * Usage: proc_copy clone|sysfork|sysclone|_Fork|clonevm|vfork N
 * Runs in the request REQCTX_PARENT names. Two threads write whole lines
 * all the time (the output lock is busy); the main thread makes N children
 * in the given way, each while it holds half a line ("parent half I "),
 * which it ends after the child is made ("rest I"). A child takes a fresh
 * context (accepts a connection from itself), writes
 *   child I pid=P gen=ID
 * and exits. clonevm (CLONE_VM|CLONE_VFORK, as posix_spawn) and vfork children
 * instead dup2, install a SIGUSR1 handler and exec this program with
 * "exec I", which writes "exec child I pid=P id=ID". A child not done in
 * 2 s is killed and counted as hung; after 3 hung, no more are made. The parent ends with
 *   parent gen=ID hung=H usr1=dfl|changed
 * (usr1: what sigaction reports for SIGUSR1, which only the children set).
 */
#define TARGET_OWN_DIE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "target.h"
#include "../../shims/reqctx.h"

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static atomic_int stop;
static int listener;
static struct sockaddr_in addr;
static char self[4096];

static void *writer(void *arg)
{
	char line[96];
	long k = (long)arg;

	for (unsigned n = 0; !atomic_load(&stop); n++) {
		int len = snprintf(line, sizeof line, "writer %ld line %u\n", k, n);

		write_all(2, line, (size_t)len);
	}
	return NULL;
}

/* A new context: accept a connection from ourselves. */
static void fresh_context(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0), s;

	if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0)
		die("connect");
	s = accept(listener, NULL, NULL);
	if (s < 0)
		die("accept");
	close(c);
	close(s);
}

static int child_main(void *arg)
{
	long i = (long)arg;
	const char *id;

	fresh_context();
	id = reqctx_id();
	fprintf(stderr, "child %ld pid=%d gen=%s\n", i, (int)getpid(), id ? id : "none");
	exit(0);
}

static void usr1(int sig)
{
	(void)sig;
}

static int vm_child(void *arg)
{
	long i = (long)arg;
	char num[24], *argv[] = { self, "exec", num, NULL };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = usr1;
	sigaction(SIGUSR1, &sa, NULL);
	dup2(2, 9);
	snprintf(num, sizeof num, "%ld", i);
	execv(self, argv);
	_exit(127);
}

static pid_t make_child(const char *how, long i, char *stack, size_t stack_size)
{
	pid_t p;

	if (strcmp(how, "clone") == 0)
		return clone(child_main, stack + stack_size, SIGCHLD, (void *)i);
	if (strcmp(how, "clonevm") == 0)
		return clone(vm_child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)i);
	if (strcmp(how, "vfork") == 0) {
		p = vfork();
		if (p == 0)
			vm_child((void *)i);
		return p;
	}
	if (strcmp(how, "_Fork") == 0)
		p = _Fork();
	else if (strcmp(how, "sysfork") == 0)
		p = (pid_t)syscall(SYS_fork);
	else if (strcmp(how, "sysclone") == 0)
		p = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	else
		die("unknown mode");
	if (p == 0)
		child_main((void *)i);
	return p;
}

/* Waits up to 2 s; returns 1 if the child had to be killed. */
static int reap(pid_t p)
{
	for (int t = 0; t < 2000; t++) {
		int st;
		pid_t r = waitpid(p, &st, WNOHANG | __WALL);

		if (r == p)
			return 0;
		if (r < 0)
			return 0;
		usleep(1000);
	}
	kill(p, SIGKILL);
	waitpid(p, NULL, __WALL);
	return 1;
}

int main(int argc, char **argv)
{
	socklen_t alen = sizeof addr;
	pthread_t w[2];
	int n, hung = 0;
	size_t stack_size = 256 * 1024;
	char *stack = malloc(stack_size);
	const char *id;
	struct sigaction cur;

	if (argc == 3 && strcmp(argv[1], "exec") == 0) {
		id = reqctx_id();
		fprintf(stderr, "exec child %s pid=%d id=%s\n", argv[2], (int)getpid(), id ? id : "none");
		return 0;
	}
	if (argc != 3)
		return 2;
	if (readlink("/proc/self/exe", self, sizeof self - 1) < 0)
		die("readlink");
	n = atoi(argv[2]);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) ||
	    listen(listener, 16) || getsockname(listener, (struct sockaddr *)&addr, &alen))
		die("listen");
	for (long k = 0; k < 2; k++)
		pthread_create(&w[k], NULL, writer, (void *)k);
	for (long i = 0; i < n && hung < 3; i++) {
		pid_t p;

		fprintf(stderr, "parent half %ld ", i);
		p = make_child(argv[1], i, stack, stack_size);
		if (p < 0)
			die("child");
		fprintf(stderr, "rest %ld\n", i);
		hung += reap(p);
	}
	atomic_store(&stop, 1);
	for (int k = 0; k < 2; k++)
		pthread_join(w[k], NULL);
	sigaction(SIGUSR1, NULL, &cur);
	fresh_context();
	id = reqctx_id();
	fprintf(stderr, "parent gen=%s hung=%d usr1=%s\n", id ? id : "none", hung,
		cur.sa_handler == SIG_DFL ? "dfl" : "changed");
	return 0;
}
