/*
 * target.h - small helpers shared by the test targets in tests/targets/.
 *
 * Each target is built from its single .c file, so everything here is
 * static inline: a target pays only for what it calls, and an unused
 * helper draws no warning.
 *
 * die() is perror() + exit(1). A target that needs a different one defines
 * TARGET_OWN_DIE before including this header and defines its own
 * static void die(const char *what); the helpers below call that one.
 */
#ifndef TARGET_H
#define TARGET_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef TARGET_OWN_DIE
static void die(const char *what);
#else
static inline void die(const char *what)
{
	perror(what);
	exit(1);
}
#endif

/* Writes all of p to fd, retrying on EINTR; gives up silently on error. */
static inline void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* One formatted line (up to 511 bytes) to stderr in one write(2): no
 * stdio buffering between the program and the agent's line writer. */
static inline void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (len > 0)
		write_all(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

/* Sends all of p on a blocking socket (no SIGPIPE); -1 on error. */
static inline int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* send_all() for a non-blocking socket: on EAGAIN waits for POLLOUT (up to
 * 100 times, 100 ms each) before giving up with -1. */
static inline int send_all_nb(int fd, const char *p, size_t n)
{
	int waits = 0;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 100) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };

				poll(&pf, 1, 100);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads a request head into buf (max + 1 bytes) until "\r\n\r\n" or max
 * bytes; NUL-terminates it. Returns its length, or -1 on error or EOF. */
static inline ssize_t read_request_head(int fd, char *buf, size_t max)
{
	size_t len = 0;

	while (len < max) {
		ssize_t r = read(fd, buf + len, max - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The index of `arg` among the n mode names; exits with status 2 and a
 * line on stderr when it is none of them. */
static inline int pick_mode(const char *arg, const char *const *names, int n)
{
	for (int m = 0; m < n; m++)
		if (strcmp(arg, names[m]) == 0)
			return m;
	fprintf(stderr, "unknown mode %s\n", arg);
	exit(2);
}

/* Reads a request "GET /job/TOK" or "GET /quit/TOK" on fd: 1 a job, 2 the
 * quit, 0 anything else (or a token longer than tok_max bytes); the token,
 * NUL-terminated, into tok (tok_max + 1 bytes). */
static inline int read_job_request(int fd, char *tok, size_t tok_max)
{
	char buf[4097], *sp1, *sp2, *slash;

	if (read_request_head(fd, buf, sizeof buf - 1) < 0)
		return 0;
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL)
		return 0;
	*sp2 = '\0';
	slash = strrchr(sp1 + 1, '/');
	if (slash == NULL || strlen(slash + 1) == 0 || strlen(slash + 1) > tok_max)
		return 0;
	strcpy(tok, slash + 1);
	return strncmp(sp1 + 1, "/quit/", 6) == 0 ? 2 : strncmp(sp1 + 1, "/job/", 5) == 0;
}

/* A TCP socket (type: SOCK_STREAM | flags) listening on 127.0.0.1:port
 * (0: the kernel picks), with SO_REUSEADDR. Returns the fd; *bound gets
 * the port in use. Dies on failure. */
static inline int listen_loopback(int type, unsigned short port, int backlog,
				  unsigned short *bound)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int one = 1;
	int fd = socket(AF_INET, type, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	if (listen(fd, backlog) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		die("getsockname");
	*bound = ntohs(a.sin_port);
	return fd;
}

/* Writes "PORT\n" to path atomically (path.tmp, then rename). Dies on
 * failure. */
static inline void write_port_file(const char *path, unsigned short port)
{
	char tmp[4096];
	FILE *pf;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	pf = fopen(tmp, "w");
	if (pf == NULL)
		die(tmp);
	fprintf(pf, "%d\n", port);
	if (fclose(pf) != 0 || rename(tmp, path) != 0)
		die(path);
}

/* Writes p to dir/name (created or truncated, 0644). Dies on failure. */
static inline void write_file_in(const char *dir, const char *name,
				 const void *p, size_t n)
{
	char path[4096];
	const char *c = p;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path);
	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die(path);
		}
		c += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Makes this thread serve request `id` under the agent: a request with
 * X-Request-Id `id` is sent to itself over loopback and read from the
 * accepted connection, which it returns. The fds stay open. Exits with
 * status 2 on any failure (the test's setup, not its subject). */
static inline int take_request_conn(const char *id)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	char req[256], buf[512];
	int l, c, s, n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		exit(2);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
		exit(2);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Request-Id: %s\r\n\r\n", id);
	if (write(c, req, (size_t)n) != n || (s = accept(l, NULL, NULL)) < 0 ||
	    read(s, buf, sizeof buf) <= 0)
		exit(2);
	return s;
}

/* Accepts connections on lfd until one sends a head "GET /<ID> ..." whose
 * ID (letters, digits and '-') fits id[id_max + 1]; closes the others.
 * Returns the connection, the ID in id. */
static inline int accept_request(int lfd, char *id, size_t id_max)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		char h[4096], fmt[32];

		if (fd < 0)
			continue;
		snprintf(fmt, sizeof fmt, "GET /%%%zu[A-Za-z0-9-]", id_max);
		if (read_request_head(fd, h, sizeof h - 1) >= 0 && sscanf(h, fmt, id) == 1)
			return fd;
		close(fd);
	}
}

/* What a reaper thread (reap_handed_back) reads and how long it waits. */
struct reaper {
	int rd;                /* a pipe's read end, each record one fd (an int) */
	unsigned delay_us;     /* before each close */
};

/* A thread's body: closes each connection a worker hands back through
 * r->rd, delay_us after it arrives, as a keep-alive server's loop closes
 * a connection its client left. Never returns. */
static inline void *reap_handed_back(void *arg)
{
	const struct reaper *r = arg;
	int fd;

	for (;;) {
		if (read(r->rd, &fd, sizeof fd) != sizeof fd)
			continue;
		usleep(r->delay_us);
		close(fd);
	}
	return arg;
}

/* take_request_conn without the connection. */
static inline void take_request(const char *id)
{
	(void)take_request_conn(id);
}

#endif
