/*
 * outpath - the output path in the situations that broke it (issue 9):
 * sandboxes, fd 2 reused by a data file, log rotation, stdout and stderr
 * on one destination, the debug file's fd closed by the program, and the
 * ways a process ends with an unfinished line.
 *
 *   outpath sandbox kill|errno|strict|strictread|writev|connect|open|limits ID
 *   outpath datafile closed|self FILE ID
 *   outpath rotate OLD NEW ID
 *   outpath order ID
 *   outpath debugfd loop|range FILE ID
 *   outpath exit quick_exit|_exit|_Exit|exit_group|sys_exit|abort|sigterm|handler ID
 *
 * Each mode takes a request context the way a server does (a request with
 * X-Request-Id: ID sent to itself and read on the accepted fd) and then
 * writes. The tests run each mode with and without the agent and compare.
 * Around the output section of `sandbox`, getppid() marks where the system
 * calls of interest start and end (for strace).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "target.h"


/* ---- sandbox ------------------------------------------------------------ */

#define DENY(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, action)

/* Denies `banned` (write or writev: the call the host does not use) and the
 * calls the agent used to add on the output path; allows the rest. */
static void install_filter(unsigned action, int banned)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(banned),
		DENY(SYS_fcntl),
		DENY(SYS_fstat),
		DENY(SYS_newfstatat),
		DENY(SYS_statx),
		DENY(SYS_lseek),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		exit(3);
}

/* Only write(2): the results go out as a line of digits. */
static void put_result(char *p, size_t *o, long r)
{
	char tmp[24];
	int n = 0;

	if (r < 0) {
		p[(*o)++] = '-';
		r = -r;
	}
	do {
		tmp[n++] = (char)('0' + r % 10);
		r /= 10;
	} while (r);
	while (n)
		p[(*o)++] = tmp[--n];
	p[(*o)++] = ' ';
}

/* strictread: the request's connection accepted, then SECCOMP_MODE_STRICT,
 * then the request read (the agent starts the request there), a line
 * written and the answer sent: nothing but read and write may run once
 * the program is in the sandbox, the agent's request start included (a
 * trial: its first allocation, the host's malloc, made getrandom and brk
 * there, and the kernel killed the server). */
static int strict_read(const char *id)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char req[256], buf[512], res[64];
	size_t o = 0;
	unsigned short port;
	int l = listen_loopback(SOCK_STREAM, 0, 1, &port), c, s, n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);

	/* The client is a child: a program that never connected out has
	 * made no allocation of the agent's before the request. */
	if (fork() == 0) {
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
			_exit(2);
		n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Request-Id: %s\r\n\r\n", id);
		if (write(c, req, (size_t)n) != n)
			_exit(2);
		while (read(c, buf, sizeof buf) > 0)
			;
		_exit(0);
	}
	if ((s = accept(l, NULL, NULL)) < 0)
		exit(2);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
		exit(3);
	put_result(res, &o, read(s, buf, sizeof buf) > 0);
	put_result(res, &o, write(2, "in the request\n", 15));
	put_result(res, &o, write(s, "HTTP/1.1 204 No Content\r\n\r\n", 27));
	res[o++] = '\n';
	write(2, res, o);
	syscall(SYS_exit, 0);                           /* the only way out */
	return 0;
}

static int sandbox(const char *how, const char *id)
{
	char res[256];
	size_t o = 0;
	bool strict = strcmp(how, "strict") == 0, vec = strcmp(how, "writev") == 0;
	bool out = strcmp(how, "connect") == 0, rd = strcmp(how, "open") == 0;
	bool lim = strcmp(how, "limits") == 0;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	int l = -1;

	if (strcmp(how, "strictread") == 0)
		return strict_read(id);
	take_request(id);
	setvbuf(stderr, NULL, _IONBF, 0);
	if (out) {
		/* A call out inside the request, in a sandbox that kills on
		 * getsockopt: the program's own calls only. */
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l = socket(AF_INET, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
		    getsockname(l, (struct sockaddr *)&a, &alen))
			exit(2);
		install_filter(SECCOMP_RET_KILL_PROCESS, SYS_getsockopt);
	} else if (strict) {
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
			exit(3);
	} else if (lim) {
		/* Run under a small RLIMIT_AS (the test sets it): the agent's
		 * own address space must leave the program what it had. */
		char *big = malloc(40 << 20);

		if (big)
			memset(big, 1, 40 << 20);
		put_result(res, &o, big != NULL);
		free(big);
	} else {
		install_filter(strcmp(how, "errno") == 0 ? SECCOMP_RET_ERRNO | EPERM
			       : SECCOMP_RET_KILL_PROCESS, vec ? SYS_write : SYS_writev);
	}
	if (!strict)
		getppid();                              /* marker: output starts */
	if (out) {
		static const char head[] = "GET /out HTTP/1.1\r\nHost: t\r\n\r\n";
		int c = socket(AF_INET, SOCK_STREAM, 0);

		put_result(res, &o, connect(c, (struct sockaddr *)&a, sizeof a));
		put_result(res, &o, write(c, head, sizeof head - 1));
		res[o++] = '\n';
		write(2, res, o);
	} else if (rd) {
		/* A file opened for reading inside the request, as a server
		 * opens what it serves (with stderr on a log file). */
		char b[4];
		int fd = open("/dev/zero", O_RDONLY);

		put_result(res, &o, fd >= 0);
		put_result(res, &o, read(fd, b, sizeof b));
		put_result(res, &o, close(fd));
		put_result(res, &o, write(2, "served\n", 7));
		res[o++] = '\n';
		write(2, res, o);
	} else if (vec) {
		struct iovec a2[2] = { { "partial ", 8 }, { "then", 4 } };
		struct iovec b[2] = { { " the end\n", 9 }, { "two\nlines\n", 10 } };

		put_result(res, &o, writev(2, a2, 2));
		put_result(res, &o, writev(2, b, 2));
		res[o++] = '\n';
		writev(2, &(struct iovec){ res, o }, 1);
	} else {
		put_result(res, &o, write(2, "partial ", 8));
		put_result(res, &o, write(2, "then the end\n", 13));
		put_result(res, &o, fprintf(stderr, "fprintf %d\n", 42));
		put_result(res, &o, fputs("fputs line\n", stderr));
		put_result(res, &o, (long)fwrite("fwrite line\n", 1, 12, stderr));
		res[o++] = '\n';
		write(2, res, o);
	}
	if (strict)
		syscall(SYS_exit, 0);                   /* the only way out */
	getppid();                                      /* marker: output ends */
	return 0;
}

/* ---- fd 2 reused by a data file ---------------------------------------- */

static void records(int fd)
{
	FILE *f = fdopen(dup(fd), "w");
	struct iovec v[2] = { { "record 4 ", 9 }, { "(writev)\n", 9 } };

	if (f == NULL)
		exit(3);
	setvbuf(f, NULL, _IONBF, 0);
	write(fd, "record 1 (write)\n", 17);
	dprintf(fd, "record %d (dprintf)\n", 2);
	write(fd, "record 3 in ", 12);
	write(fd, "pieces\n", 7);
	writev(fd, v, 2);
	fclose(f);
}

static int datafile(const char *how, const char *path, const char *id)
{
	int fd;

	if (strcmp(how, "closed") == 0) {
		/* Started with 2>&-: the data file is the first file opened. */
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		take_request(id);
	} else {
		take_request(id);
		fprintf(stderr, "before the close\n");
		close(2);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	}
	if (fd != 2)
		return 3;
	records(fd);
	/* The stdio stream stderr is fd 2 too: its bytes land in the file. */
	fprintf(stderr, "record 5 (fprintf stderr)\n");
	fwrite("record 6 (fwrite stderr)\n", 1, 25, stderr);
	fputs("record 7 (fputs stderr) ", stderr);
	perror("record 7 ends");
	return 0;
}

/* ---- log rotation ------------------------------------------------------- */

static int rotate(const char *old, const char *new, const char *id)
{
	int fd;

	take_request(id);
	fputs("line one\n", stderr);
	fputs("partial ", stderr);
	if (freopen(new, "a", stderr) == NULL)
		return 3;
	setvbuf(stderr, NULL, _IONBF, 0);   /* freopen made it buffered */
	fputs("after\n", stderr);
	/* An fd opened on the new log is a log; one on the old file is not
	 * stderr any more. */
	fd = open(new, O_WRONLY | O_APPEND);
	write(fd, "new direct\n", 11);
	close(fd);
	fd = open(old, O_WRONLY | O_APPEND);
	write(fd, "old direct\n", 11);
	close(fd);
	fputs("last\n", stderr);
	return 0;
}

/* ---- stdout and stderr on one destination ------------------------------ */

static int order(const char *id)
{
	take_request(id);
	setvbuf(stdout, NULL, _IONBF, 0);
	fputs("A1-", stderr); fputs("B1-", stdout); fputs("\n", stderr);
	fputs("A2-", stderr); write(1, "B2-", 3); fputs("\n", stderr);
	fputs("A3-", stderr); printf("B%d-", 3); fputs("\n", stderr);
	fputs("checking... ", stderr); puts("result"); fputs("ok\n", stderr);
	fputs("A5-", stderr); fwrite("B5-", 1, 3, stdout); fputs("\n", stderr);
	fputs("A6-", stderr); putchar('B'); fputs("\n", stderr);
	write(2, "A7-", 3); fflush(stdout); dprintf(1, "B7-"); write(2, "\n", 1);
	return 0;
}

/* ---- the debug file's fd ------------------------------------------------ */

static int debugfd(const char *how, const char *path, const char *id)
{
	int fd;

	if (strcmp(how, "range") == 0) {
		if (close_range(3, ~0u, 0) != 0)
			return 3;
	} else {
		for (int i = 3; i < 1024; i++)
			close(i);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	take_request(id);
	fprintf(stderr, "served\n");
	write(fd, "data 1\n", 7);
	take_request(id);
	write(fd, "data 2\n", 7);
	close(fd);
	return 0;
}

/* ---- ways out ----------------------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
	_exit(5);
}

static int ends(const char *how, const char *id)
{
	take_request(id);
	fputs("complete line\n", stderr);
	if (strcmp(how, "handler") == 0) {
		/* The handler ends the process while this thread is inside a
		 * write to stderr, blocked on a full pipe. */
		int p[2];
		static char big[1 << 17];   /* more than the pipe holds */

		if (pipe(p) || dup2(p[1], 2) != 2)
			return 3;
		memset(big, 'x', sizeof big);
		signal(SIGALRM, on_alarm);
		alarm(1);
		write(2, big, sizeof big);
		return 6;
	}
	fputs("unfinished line", stderr);
	if (strcmp(how, "quick_exit") == 0)
		quick_exit(3);
	if (strcmp(how, "_exit") == 0)
		_exit(4);
	if (strcmp(how, "_Exit") == 0)
		_Exit(5);
	/* Raw system calls through syscall(2): the process's end, and the
	 * only thread's (which ends the process too). */
	if (strcmp(how, "exit_group") == 0)
		syscall(SYS_exit_group, 8);
	if (strcmp(how, "sys_exit") == 0)
		syscall(SYS_exit, 9);
	if (strcmp(how, "abort") == 0)
		abort();
	if (strcmp(how, "sigterm") == 0)
		raise(SIGTERM);
	return 7;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "sandbox") == 0)
		return sandbox(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "datafile") == 0)
		return datafile(argv[2], argv[3], argv[4]);
	if (argc == 5 && strcmp(argv[1], "rotate") == 0)
		return rotate(argv[2], argv[3], argv[4]);
	if (argc == 3 && strcmp(argv[1], "order") == 0)
		return order(argv[2]);
	if (argc == 5 && strcmp(argv[1], "debugfd") == 0)
		return debugfd(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "exit") == 0)
		return ends(argv[2], argv[3]);
	fprintf(stderr, "usage: see the comment at the top of outpath.c\n");
	return 2;
}
