/*
 * shell_same - system() and popen() as a program sees them; run with and
 * without the agent, its stdout must be the same byte for byte
 * (tests/integration/t_shell_same). The agent has its own system() and
 * popen() (agent/shell.c): these are the parts of glibc's behaviour a
 * program can observe.
 *
 *   shell_same        every case in turn, one result line each
 *
 * Cases: statuses (system(NULL), exit codes, a shell killed by a signal,
 * SIGCHLD ignored: -1 ECHILD); SIGINT and SIGQUIT as sigaction() reports
 * them while system() runs (asked from a signal handler the shell
 * triggers); SIGINT changed by a handler or another thread while system()
 * runs (glibc puts back what was there before); a SIGINT that arrives
 * during the call; popen modes (r, w, re, we, er, and invalid ones:
 * EINVAL), close-on-exec of the stream's fd, pclose and fclose statuses,
 * the fds a second popen's shell has; the environment a shell sees after
 * setenv/unsetenv; setenv of another thread while popen runs (no update
 * may be lost) and what another thread's getenv sees meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void h1(int s) { (void)s; (void)!write(1, "h1 ran\n", 7); }
static void h2(int s) { (void)s; (void)!write(1, "h2 ran\n", 7); }

static const char *name(void (*h)(int))
{
	return h == SIG_DFL ? "DFL" : h == SIG_IGN ? "IGN" : h == h1 ? "h1" : h == h2 ? "h2" : "other";
}

static const char *now(int sig)
{
	struct sigaction a;

	sigaction(sig, NULL, &a);
	return name(a.sa_handler);
}

static void statuses(void)
{
	int r;

	printf("system(NULL)=%d\n", system(NULL));
	printf("exit 3: %d\n", system("exit 3"));
	printf("killed: %d\n", system("kill -TERM $$"));
	printf("missing command: %d\n", system("/nonexistent/reqctx-cmd 2>/dev/null"));
	signal(SIGCHLD, SIG_IGN);
	errno = 0;
	r = system("exit 2");
	printf("SIGCHLD ignored: %d errno=%d\n", r, errno);
	signal(SIGCHLD, SIG_DFL);
}

static volatile sig_atomic_t seen_int = -1, seen_quit = -1, usr1_mode;

static void usr1(int s)
{
	struct sigaction a;

	(void)s;
	sigaction(SIGINT, NULL, &a);
	seen_int = a.sa_handler == SIG_IGN;
	sigaction(SIGQUIT, NULL, &a);
	seen_quit = a.sa_handler == SIG_IGN;
	if (usr1_mode == 1)
		signal(SIGINT, h2);
	else if (usr1_mode == 2)
		signal(SIGINT, SIG_DFL);
}

/* What SIGINT is during and after a system() whose shell sends SIGUSR1
 * (and, with `intr`, SIGINT) to this process. */
static void dispositions(const char *label, void (*before)(int), int mode, int intr)
{
	int r;

	signal(SIGINT, before);
	signal(SIGUSR1, usr1);
	usr1_mode = mode;
	r = system(intr ? "kill -USR1 $PPID; sleep 0.1; kill -INT $PPID; sleep 0.1"
			: "kill -USR1 $PPID; sleep 0.1");
	printf("%s: system=%d during: INT ignored=%d QUIT ignored=%d after: INT=%s QUIT=%s\n",
	       label, r, seen_int, seen_quit, now(SIGINT), now(SIGQUIT));
	fflush(stdout);
	signal(SIGINT, SIG_IGN);
}

static void *system_sleeps(void *arg)
{
	(void)arg;
	system("sleep 0.3");
	return NULL;
}

static void changed_by_thread(void)
{
	pthread_t t;

	signal(SIGINT, h1);
	pthread_create(&t, NULL, system_sleeps, NULL);
	usleep(100000);
	signal(SIGINT, SIG_DFL);
	pthread_join(t, NULL);
	printf("changed by another thread during system(): after: INT=%s\n", now(SIGINT));
	signal(SIGINT, SIG_IGN);
}

static void modes(void)
{
	static const char *const m[] = { "r", "w", "re", "we", "er", "rw", "r+", "x", "" };

	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		FILE *f;

		errno = 0;
		f = popen("exit 5", m[i]);
		printf("popen mode '%s': %s errno=%d", m[i], f ? "stream" : "NULL", errno);
		if (f) {
			printf(" cloexec=%d", fcntl(fileno(f), F_GETFD) & FD_CLOEXEC);
			printf(" pclose=%d", pclose(f));
		}
		printf("\n");
	}
}

/* fclose() on a popen stream, which glibc allows (and waits for the
 * shell); called through a pointer so the compiler does not object. */
static int (*volatile close_stream)(FILE *) = fclose;

static void streams(void)
{
	char buf[128] = "";
	FILE *a = popen("cat >/dev/null", "w");
	FILE *b = popen("ls /proc/self/fd | wc -l", "r");
	FILE *c, *d;

	if (fgets(buf, sizeof buf, b) == NULL)
		strcpy(buf, "(none)\n");
	printf("fds of the second popen's shell: %s", buf);
	printf("pclose: %d %d\n", pclose(b), pclose(a));
	c = popen("echo hello; exit 3", "r");
	if (fgets(buf, sizeof buf, c) == NULL)
		strcpy(buf, "(none)\n");
	printf("read %s", buf);
	printf("fclose of a popen stream: %d\n", close_stream(c));
	d = popen("cat", "w");
	fputs("written through a popen stream\n", d);
	fflush(stdout);
	printf("pclose after writing: %d\n", pclose(d));
	fflush(stdout);
}

static void environment(void)
{
	char buf[256];
	FILE *f;

	setenv("SHELL_SAME_A", "one", 1);
	unsetenv("SHELL_SAME_B");
	f = popen("env | grep '^SHELL_SAME_' | sort", "r");
	while (fgets(buf, sizeof buf, f))
		printf("popen env: %s", buf);
	pclose(f);
	fflush(stdout);
	system("env | grep '^SHELL_SAME_' | sort | sed 's/^/system env: /'");
}

static volatile int stop;
static int lost, odd;

static void *setter(void *arg)
{
	char v[32];

	(void)arg;
	for (int i = 0; !stop; i++) {
		const char *g;

		snprintf(v, sizeof v, "%d", i);
		setenv("SHELL_SAME_V", v, 1);
		usleep(200);
		g = getenv("SHELL_SAME_V");
		if (g == NULL || strcmp(g, v) != 0)
			lost++;
		if (getenv("REQCTX_PARENT") != NULL)
			odd++;
	}
	return NULL;
}

static void environ_race(void)
{
	pthread_t t;

	setenv("SHELL_SAME_V", "start", 1);
	pthread_create(&t, NULL, setter, NULL);
	for (int i = 0; i < 150; i++)
		pclose(popen("true", "r"));
	stop = 1;
	pthread_join(t, NULL);
	printf("setenv during popen: lost=%d, REQCTX_PARENT seen=%d\n", lost, odd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	statuses();
	dispositions("no handler", SIG_DFL, 0, 0);
	dispositions("handler", h1, 0, 0);
	dispositions("handler replaced during", h1, 1, 0);
	dispositions("handler reset during", h1, 2, 0);
	dispositions("SIGINT during", h1, 0, 1);
	changed_by_thread();
	modes();
	streams();
	environment();
	environ_race();
	return 0;
}
