/*
 * proc_server - an HTTP/1.1 server (one thread, blocking, one request per
 * connection) whose requests fork and exec: the processes it starts inside
 * a request should log with that request's ID (tests/integration/t_process).
 *
 *   proc_server PORT_FILE          the server
 *   proc_server PORT_FILE threads  the same, each connection in a thread
 *                                  of its own, and every child (and
 *                                  shell) waits 20 ms before it logs: so
 *                                  that system() and popen() of several
 *                                  requests overlap
 *   proc_server child HOW TOK      what the server execs: logs one line
 *
 * Requests: GET /OP/TOK (the test sends TOK as the X-Request-Id too):
 *   fork      writes "fork parent tok=TOK part1 " (no newline: held), forks;
 *             the parent finishes the line ("part2\n") and only then lets
 *             the child go on (a pipe); the child logs, then _exit(0)
 *   fork2     forks with nothing held; the child logs and exit(0)s
 *   execve execvp execl vfork   fork (vfork) + exec of this program
 *   spawn spawnp                posix_spawn / posix_spawnp of this program
 *   system popen                system() / popen() of this program
 *   cgi       pipe() + fork + exec of this program with stdout on the pipe;
 *             the parent read()s the child's output to EOF, then logs
 *   sh-system sh-exec popen-sh  /bin/sh -c 'echo "shell line ..." >&2'
 *                               through system(), fork+execl, popen()
 *   quit      stops the server (exit 0)
 *
 * stderr:
 *   listening | shutdown                            no context
 *   request op=OP tok=TOK                           in the request
 *   fork parent tok=TOK part1 part2                 in the request, once
 *   fork child op=fork|fork2 tok=TOK id=ID          the forked child
 *   fork reaped op=OP tok=TOK status=S              the parent, after waitpid
 *   exec child how=HOW tok=TOK id=ID agent=yes|no   the exec'd program
 *   shell line how=HOW tok=TOK                      the shell's echo
 *   cgi read tok=TOK bytes=N                        the parent, after the pipe
 *   exec done how=HOW tok=TOK status=S              the parent
 * ID is reqctx_id() (reqctx.h), "(null)" without a context or agent;
 * agent=yes when the agent is loaded in the child.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shims/reqctx.h"
#include "target.h"

#define HEAD_MAX 4096
#define TOK_MAX 128

extern char **environ;

static char self[4096];
static int threaded;

static const char *cur_id(void)
{
	const char *id = reqctx_id();

	return id ? id : "(null)";
}

static int child_main(const char *how, const char *tok)
{
	if (getenv("PROC_CHILD_PAUSE"))
		usleep(20000);
	fprintf(stderr, "exec child how=%s tok=%s id=%s agent=%s\n", how, tok, cur_id(),
		reqctx_api_id ? "yes" : "no");
	if (strcmp(how, "cgi") == 0 || strcmp(how, "popen") == 0)
		printf("child output how=%s tok=%s\n", how, tok);
	return 0;
}

static void answer(int fd, int status)
{
	char resp[160];
	int rl = snprintf(resp, sizeof resp,
			  "HTTP/1.1 %d %s\r\nContent-Length: 3\r\nConnection: close\r\n\r\n%s\n",
			  status, status == 200 ? "OK" : "Error", status == 200 ? "ok" : "no");

	send_all(fd, resp, (size_t)rl);
}

/* Reads the request head; fills op and tok from GET /OP/TOK. */
static int read_request(int fd, char *op, char *tok)
{
	char buf[HEAD_MAX + 1], *sp1, *sp2, *p, *slash;

	if (read_request_head(fd, buf, HEAD_MAX) < 0)
		return -1;
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL || sp1[1] != '/')
		return -1;
	*sp2 = '\0';
	p = sp1 + 2;
	slash = strchr(p, '/');
	if (slash == NULL || slash - p > 32 || strlen(slash + 1) == 0 ||
	    strlen(slash + 1) > TOK_MAX || strchr(slash + 1, '/'))
		return -1;
	memcpy(op, p, (size_t)(slash - p));
	op[slash - p] = '\0';
	strcpy(tok, slash + 1);
	return 0;
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int do_fork(const char *op, const char *tok)
{
	int sync[2] = { -1, -1 }, held = strcmp(op, "fork") == 0;
	pid_t pid;

	if (held) {
		if (pipe2(sync, O_CLOEXEC) < 0)
			die("pipe2");
		fprintf(stderr, "fork parent tok=%s part1 ", tok);
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (held) {
			char b;

			close(sync[1]);
			while (read(sync[0], &b, 1) < 0 && errno == EINTR)
				;
			fprintf(stderr, "fork child op=%s tok=%s id=%s\n", op, tok, cur_id());
			_exit(0);
		}
		fprintf(stderr, "fork child op=%s tok=%s id=%s\n", op, tok, cur_id());
		exit(0);
	}
	if (held) {
		fputs("part2\n", stderr);
		close(sync[0]);
		close(sync[1]);     /* the child reads EOF: it may log now */
	}
	fprintf(stderr, "fork reaped op=%s tok=%s status=%d\n", op, tok, wait_status(pid));
	return 0;
}

static int do_exec(const char *how, const char *tok)
{
	char *argv[] = { self, (char *)"child", (char *)how, (char *)tok, NULL };
	char cmd[8192], shline[512];
	int status = -1;
	pid_t pid;

	snprintf(cmd, sizeof cmd, "'%s' child %s %s", self, how, tok);
	snprintf(shline, sizeof shline, "%secho \"shell line how=%s tok=%s\" >&2",
		 threaded ? "sleep 0.02; " : "", how, tok);
	if (strcmp(how, "execve") == 0 || strcmp(how, "execvp") == 0 ||
	    strcmp(how, "execl") == 0 || strcmp(how, "sh-exec") == 0) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (how[4] == 'v' && how[5] == 'e')
				execve(self, argv, environ);
			else if (how[4] == 'v')
				execvp(self, argv);
			else if (how[0] == 's')
				execl("/bin/sh", "sh", "-c", shline, (char *)NULL);
			else
				execl(self, self, "child", how, tok, (char *)NULL);
			_exit(127);
		}
		status = wait_status(pid);
	} else if (strcmp(how, "vfork") == 0) {
		pid = vfork();
		if (pid < 0)
			die("vfork");
		if (pid == 0) {
			execv(self, argv);
			_exit(127);
		}
		status = wait_status(pid);
	} else if (strcmp(how, "spawn") == 0 || strcmp(how, "spawnp") == 0) {
		int r = how[5] == 'p' ? posix_spawnp(&pid, self, NULL, NULL, argv, environ)
				      : posix_spawn(&pid, self, NULL, NULL, argv, environ);

		if (r != 0) {
			errno = r;
			die("posix_spawn");
		}
		status = wait_status(pid);
	} else if (strcmp(how, "system") == 0 || strcmp(how, "sh-system") == 0) {
		int st = system(how[0] == 's' && how[1] == 'h' ? shline : cmd);

		status = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	} else if (strcmp(how, "popen") == 0 || strcmp(how, "popen-sh") == 0) {
		char buf[4096];
		FILE *f = popen(how[5] == '-' ? shline : cmd, "r");
		int st;

		if (f == NULL)
			die("popen");
		while (fread(buf, 1, sizeof buf, f) > 0)
			;
		st = pclose(f);
		status = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	} else if (strcmp(how, "cgi") == 0) {
		char buf[4096];
		size_t got = 0;
		int p[2];
		ssize_t r;

		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe2");
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			dup2(p[1], 1);
			execv(self, argv);
			_exit(127);
		}
		close(p[1]);
		while ((r = read(p[0], buf, sizeof buf)) != 0) {
			if (r < 0) {
				if (errno == EINTR)
					continue;
				die("read pipe");
			}
			got += (size_t)r;
		}
		close(p[0]);
		fprintf(stderr, "cgi read tok=%s bytes=%zu\n", tok, got);
		status = wait_status(pid);
	} else {
		return -1;
	}
	fprintf(stderr, "exec done how=%s tok=%s status=%d\n", how, tok, status);
	return 0;
}

/* One request on fd; 1 when it was the last (quit). */
static int serve(int fd)
{
	char op[40], tok[TOK_MAX + 1];
	int r;

	if (read_request(fd, op, tok) < 0) {
		answer(fd, 400);
		close(fd);
		return 0;
	}
	fprintf(stderr, "request op=%s tok=%s\n", op, tok);
	if (strcmp(op, "quit") == 0) {
		answer(fd, 200);
		close(fd);
		return 1;
	}
	if (strcmp(op, "fork") == 0 || strcmp(op, "fork2") == 0)
		r = do_fork(op, tok);
	else
		r = do_exec(op, tok);
	answer(fd, r == 0 ? 200 : 404);
	close(fd);
	return 0;
}

static void *serve_thread(void *arg)
{
	if (serve((int)(long)arg) == 1) {
		fprintf(stderr, "shutdown\n");
		exit(0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned short port;
	int lfd;
	ssize_t sl;

	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child_main(argv[2], argv[3]);
	threaded = argc == 3 && strcmp(argv[2], "threads") == 0;
	if (argc != 2 && !threaded) {
		fprintf(stderr, "usage: %s PORT_FILE [threads] | child HOW TOK\n", argv[0]);
		return 2;
	}
	sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		die("readlink /proc/self/exe");
	self[sl] = '\0';
	signal(SIGPIPE, SIG_IGN);
	if (threaded)
		setenv("PROC_CHILD_PAUSE", "1", 1);

	lfd = listen_loopback(SOCK_STREAM | SOCK_CLOEXEC, 0, 64, &port);
	fprintf(stderr, "listening\n");
	write_port_file(argv[1], port);

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept4");
		}
		if (!threaded) {
			if (serve(fd) == 1)
				break;
			continue;
		}
		if (pthread_create(&th, NULL, serve_thread, (void *)(long)fd) != 0)
			die("pthread_create");
		pthread_detach(th);
	}
	close(lfd);
	fprintf(stderr, "shutdown\n");
	return 0;
}
