/*
 * sample_server - a small thread-per-connection HTTP/1.1 server, written
 * the ordinary way and knowing nothing of reqctx: the program `make demo`
 * runs under the agent, and a realistic target for the tests.
 *
 *   sample_server PORT      (0: the kernel chooses)
 *
 * Listens on 127.0.0.1. Logs "listening on 127.0.0.1:<port>" to stderr and
 * writes the bare port number to stdout. The main thread poll()s the
 * listening socket and accepts; each connection gets a thread that reads
 * one request, logs its work through several stderr APIs, answers and
 * closes. GET / and /hello answer 200; any other path is looked up as a
 * file under ./public and is a 404 when missing. SIGTERM or SIGINT: stop
 * accepting, let running requests finish, log "shutting down", exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define DOCROOT "public"
#define HEAD_MAX 8192
#define TARGET_MAX 1024
#define FILE_MAX 65536

struct client {
	int fd;
	char peer[64];          /* "127.0.0.1:54321" */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static int active;              /* connection threads running */
static unsigned long served;    /* requests answered */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads until the end of the request head; returns its length, 0 if the
 * client went away or sent too much, -1 on error. */
static ssize_t read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t r = read(fd, buf + len, size - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return (ssize_t)len;
	}
	return 0;
}

/* Copies a request target for logging: control bytes and non-ASCII become
 * '?', so a client cannot put escape sequences into the log. */
static void printable(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n && src[i]; i++)
		dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* A file under DOCROOT, read whole into body; -1 (errno set) if missing. */
static int read_file(const char *path, char *body, size_t size, size_t *len)
{
	char full[TARGET_MAX + sizeof DOCROOT], what[TARGET_MAX + sizeof DOCROOT + 8];
	ssize_t r;
	int fd;

	if (strstr(path, "..")) {
		errno = ENOENT;
		return -1;
	}
	snprintf(full, sizeof full, "%s%s", DOCROOT, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(what, sizeof what, "open %s", full);
		perror(what);
		errno = e;
		return -1;
	}
	*len = 0;
	while (*len < size && (r = read(fd, body + *len, size - *len)) > 0)
		*len += (size_t)r;
	close(fd);
	return 0;
}

static void respond(int fd, int status, const char *target, const char *body, size_t blen)
{
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found"
			   : status == 405 ? "Method Not Allowed" : "Bad Request";
	char head[256], line[TARGET_MAX + 128];
	int hl, ll;

	hl = snprintf(head, sizeof head,
		      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n", status, reason, blen);
	if (send_all(fd, head, (size_t)hl) < 0 || send_all(fd, body, blen) < 0) {
		fprintf(stderr, "send %s: %s\n", target, strerror(errno));
		return;
	}
	/* An access-log line, straight to the file descriptor. */
	ll = snprintf(line, sizeof line, "sent %d %s, %zu bytes, for %s\n",
		      status, reason, (size_t)hl + blen, target);
	if (write(2, line, (size_t)ll) < 0)
		return;
}

static void serve(struct client *c)
{
	static char file_body[FILE_MAX];  /* one file request at a time */
	static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
	char buf[HEAD_MAX], method[16], raw[TARGET_MAX], target[TARGET_MAX];
	char path[TARGET_MAX], msg[TARGET_MAX + 64];
	double t0;
	ssize_t n;
	size_t flen;

	n = read_head(c->fd, buf, sizeof buf);
	if (n <= 0) {
		if (n < 0)
			fprintf(stderr, "read from %s: %s\n", c->peer, strerror(errno));
		return;
	}
	t0 = now_ms();
	if (sscanf(buf, "%15s %1023s", method, raw) != 2) {
		fprintf(stderr, "malformed request from %s\n", c->peer);
		respond(c->fd, 400, "?", "bad request\n", 12);
		return;
	}
	printable(target, raw, sizeof target);
	fprintf(stderr, "%s %s from %s\n", method, target, c->peer);
	if (strcmp(method, "GET") != 0) {
		respond(c->fd, 405, target, "GET only\n", 9);
		return;
	}

	usleep(2000 + (unsigned)(rand() % 4000));   /* "work" */

	snprintf(path, sizeof path, "%.*s", (int)strcspn(raw, "?"), raw);
	if (strcmp(path, "/") == 0 || strcmp(path, "/hello") == 0) {
		snprintf(msg, sizeof msg, "route %s -> %s handler\n", target,
			 path[1] ? "hello" : "index");
		fputs(msg, stderr);
		if (path[1])
			respond(c->fd, 200, target, "hello, world\n", 13);
		else
			respond(c->fd, 200, target, "reqctx sample server\n", 21);
	} else {
		pthread_mutex_lock(&file_lock);
		if (read_file(path, file_body, sizeof file_body, &flen) == 0)
			respond(c->fd, 200, target, file_body, flen);
		else
			respond(c->fd, 404, target, "not found\n", 10);
		pthread_mutex_unlock(&file_lock);
	}

	/* One line in two pieces: the text, then its newline. */
	fprintf(stderr, "done %s in %.1f ms", target, now_ms() - t0);
	fputs("\n", stderr);

	pthread_mutex_lock(&lock);
	served++;
	pthread_mutex_unlock(&lock);
}

static void *connection(void *arg)
{
	struct client *c = arg;

	serve(c);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&lock);
	if (--active == 0)
		pthread_cond_signal(&idle);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void accept_one(int lfd)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	struct timeval tv = { .tv_sec = 5 };
	struct client *c;
	pthread_attr_t attr;
	pthread_t t;
	char ip[INET_ADDRSTRLEN];
	int fd, err;

	fd = accept4(lfd, (struct sockaddr *)&a, &alen, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
			perror("accept4");
		return;
	}
	/* A client that sends nothing does not hold its thread forever. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	c = malloc(sizeof *c);
	if (c == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
	snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(a.sin_port));

	pthread_mutex_lock(&lock);
	active++;
	pthread_mutex_unlock(&lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, connection, c);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		close(fd);
		free(c);
		pthread_mutex_lock(&lock);
		active--;
		pthread_mutex_unlock(&lock);
	}
}

int main(int argc, char **argv)
{
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	struct timespec deadline;
	sigset_t mask;
	char *end;
	long port;
	unsigned short bound;
	int lfd, sfd;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 0 || port > 65535 || *end) {
		fprintf(stderr, "usage: %s PORT (0: any free port)\n", argv[0]);
		return 2;
	}
	srand((unsigned)getpid());
	signal(SIGPIPE, SIG_IGN);
	/* Blocked here, so in every thread: the signals arrive on sfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		die("pthread_sigmask");
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");

	lfd = listen_loopback(SOCK_STREAM | SOCK_CLOEXEC, (unsigned short)port, 128, &bound);

	fprintf(stderr, "listening on 127.0.0.1:%u\n", bound);
	printf("%u\n", bound);
	fflush(stdout);

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[1].revents && read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
			break;
		if (pfd[0].revents)
			accept_one(lfd);
	}

	close(lfd);
	fprintf(stderr, "shutting down (%s)\n", strsignal((int)si.ssi_signo));
	/* Requests under way finish, within a bound. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	pthread_mutex_lock(&lock);
	while (active > 0)
		if (pthread_cond_timedwait(&idle, &lock, &deadline) == ETIMEDOUT)
			break;
	fprintf(stderr, "served %lu requests%s\n", served,
		active ? ", some still running" : "");
	pthread_mutex_unlock(&lock);
	return 0;
}
