/*
 * timer_server - a single-threaded epoll HTTP/1.1 keep-alive server whose
 * requests arm timers; the work done when a timer expires must carry the
 * ID of the request that armed it (tests/integration/t_timers).
 *
 *   timer_server PORT_FILE
 *
 * Listens on 127.0.0.1 (kernel-chosen port, written to PORT_FILE through a
 * rename). Exits 0 on SIGTERM (signalfd).
 *
 * Timers, all created at start-up, before any request (so creation carries
 * no context; only arming does):
 *   NTF timerfds (CLOCK_MONOTONIC, non-blocking) registered with epoll;
 *   NPT POSIX timers with SIGEV_THREAD notification;
 *   one POSIX timer with SIGEV_SIGNAL (SIGUSR1, a handler that write()s);
 *   one periodic "housekeeping" timerfd armed at start-up with no context.
 *
 * Requests (every path ends with a token TOK; the test sends TOK as the
 * X-Request-Id too):
 *   /tf/arm/I/MS/TOK       arm timerfd I, one-shot, MS ms
 *   /tf/disarm/I/TOK       disarm it (it_value zero)
 *   /tf/retry/I/TOK        disarm it; housekeeping arms it again (20 ms)
 *   /pt/arm/I/MS/TOK       arm POSIX timer I
 *   /pt/disarm/I/TOK       disarm it
 *   /pt/retry/I/TOK        disarm it; housekeeping arms it again
 *   /sig/MS/TOK            arm the SIGEV_SIGNAL timer
 *   /stall/MS/TOK          answer, then sleep MS ms before the next event
 *   /hello/TOK             answer
 *
 * What goes to stderr:
 *   listening | shutdown                          no context
 *   request conn=C tok=TOK path=P                 write(2), in the request
 *   armed|disarmed|retry kind=tf|pt t=I tok=TOK   fprintf, in the request
 *   stall done tok=TOK                            fprintf, in the request
 *   tf event t=I armed-by=A                       epoll event, before read
 *   tf fired t=I n=N armed-by=A                   after the read
 *   tf spurious t=I armed-by=A                    the read found nothing
 *   pt fired t=I armed-by=A                       SIGEV_THREAD notification
 *   sig fired n=K                                 signal handler, write(2)
 *   hk rearm kind=tf|pt t=I                       housekeeping, no context
 * A is the TOK of the request that armed the timer last, or "none" when it
 * was last armed by housekeeping or disarmed. Lines about A must carry A
 * (no prefix for none).
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
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define NTF 64
#define NPT 64
#define MAX_EVENTS 64
#define REQ_MAX 8192
#define TOK_MAX 128

enum kind { K_LISTEN, K_SIGNAL, K_CONN, K_TIMERFD, K_HOUSE };

struct item {
	enum kind kind;
	int fd;
	int idx;
};

struct conn {
	struct item it;
	unsigned long num;
	size_t len;
	char buf[REQ_MAX];
};

struct tf {
	struct item it;
	char armed_by[TOK_MAX + 1];
	int retry;
};

struct pt {
	timer_t id;
	char armed_by[TOK_MAX + 1];    /* under pt_lock */
	int retry;
};

static int ep = -1;
static unsigned long next_conn = 1;
static struct tf tfs[NTF];
static struct pt pts[NPT];
static pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;
static timer_t sig_timer;
static volatile sig_atomic_t sig_count;

static struct itimerspec after_ms(long ms)
{
	struct itimerspec v;

	memset(&v, 0, sizeof v);
	v.it_value.tv_sec = ms / 1000;
	v.it_value.tv_nsec = (ms % 1000) * 1000000L;
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- timers --------------------------------------------------------------- */

static void pt_notify(union sigval v)
{
	int i = v.sival_int;
	char by[TOK_MAX + 1];

	pthread_mutex_lock(&pt_lock);
	memcpy(by, pts[i].armed_by, sizeof by);
	pthread_mutex_unlock(&pt_lock);
	fprintf(stderr, "pt fired t=%d armed-by=%s\n", i, by);
}

static void on_sigusr1(int sig)
{
	char line[64] = "sig fired n=";
	size_t n = strlen(line);
	int k = ++sig_count;
	char digits[16];
	int d = 0;

	(void)sig;
	do {
		digits[d++] = (char)('0' + k % 10);
		k /= 10;
	} while (k > 0 && d < 15);
	while (d > 0)
		line[n++] = digits[--d];
	line[n++] = '\n';
	write_all(2, line, n);
}

static void timers_init(void)
{
	struct sigaction sa;
	struct sigevent sev;
	struct epoll_event ev;

	for (int i = 0; i < NTF; i++) {
		tfs[i].it.kind = K_TIMERFD;
		tfs[i].it.idx = i;
		tfs[i].it.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (tfs[i].it.fd < 0)
			die("timerfd_create");
		strcpy(tfs[i].armed_by, "none");
		ev.events = EPOLLIN;
		ev.data.ptr = &tfs[i].it;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, tfs[i].it.fd, &ev) < 0)
			die("epoll_ctl timerfd");
	}
	for (int i = 0; i < NPT; i++) {
		memset(&sev, 0, sizeof sev);
		sev.sigev_notify = SIGEV_THREAD;
		sev.sigev_notify_function = pt_notify;
		sev.sigev_value.sival_int = i;
		if (timer_create(CLOCK_MONOTONIC, &sev, &pts[i].id) < 0)
			die("timer_create SIGEV_THREAD");
		strcpy(pts[i].armed_by, "none");
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		die("sigaction");
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	if (timer_create(CLOCK_MONOTONIC, &sev, &sig_timer) < 0)
		die("timer_create SIGEV_SIGNAL");
}

static void on_timerfd(struct tf *t)
{
	unsigned long long n;
	ssize_t r;

	fprintf(stderr, "tf event t=%d armed-by=%s\n", t->it.idx, t->armed_by);
	r = read(t->it.fd, &n, sizeof n);
	if (r == (ssize_t)sizeof n)
		fprintf(stderr, "tf fired t=%d n=%llu armed-by=%s\n", t->it.idx, n, t->armed_by);
	else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		fprintf(stderr, "tf spurious t=%d armed-by=%s\n", t->it.idx, t->armed_by);
	else
		die("read timerfd");
}

/* Housekeeping: a periodic timer armed before any request. */
static void on_house(struct item *h)
{
	unsigned long long n;
	struct itimerspec v = after_ms(20);

	if (read(h->fd, &n, sizeof n) < 0 && errno != EAGAIN)
		die("read housekeeping timerfd");
	for (int i = 0; i < NTF; i++) {
		if (!tfs[i].retry)
			continue;
		tfs[i].retry = 0;
		strcpy(tfs[i].armed_by, "none");
		if (timerfd_settime(tfs[i].it.fd, 0, &v, NULL) < 0)
			die("timerfd_settime housekeeping");
		fprintf(stderr, "hk rearm kind=tf t=%d\n", i);
	}
	for (int i = 0; i < NPT; i++) {
		int again;

		pthread_mutex_lock(&pt_lock);
		again = pts[i].retry;
		pts[i].retry = 0;
		if (again)
			strcpy(pts[i].armed_by, "none");
		pthread_mutex_unlock(&pt_lock);
		if (!again)
			continue;
		if (timer_settime(pts[i].id, 0, &v, NULL) < 0)
			die("timer_settime housekeeping");
		fprintf(stderr, "hk rearm kind=pt t=%d\n", i);
	}
}

/* ---- requests ------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->it.fd, NULL);
	close(c->it.fd);
	free(c);
}

static void on_listen(struct item *l)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		struct epoll_event ev;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
				perror("accept4");
			return;
		}
		c = calloc(1, sizeof *c);
		if (c == NULL)
			die("calloc");
		c->it.kind = K_CONN;
		c->it.fd = fd;
		c->num = next_conn++;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = &c->it;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl add conn");
	}
}

/* Splits "/a/b/c" into at most `max` segments (modified in place). */
static int split_path(char *p, char **seg, int max)
{
	char *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(p, "/", &save); t && n < max; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	return n;
}

static int index_ok(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && *end == '\0' && v >= 0 && v < max ? (int)v : -1;
}

/* Returns the HTTP status to answer with. */
static int handle(struct conn *c, char *path, long *stall)
{
	char copy[REQ_MAX], line[REQ_MAX + 128], *seg[6];
	const char *tok;
	int n, i, ll;
	long ms;

	snprintf(copy, sizeof copy, "%s", path);
	n = split_path(copy, seg, 6);
	if (n < 2)
		return 404;
	tok = seg[n - 1];
	if (strlen(tok) > TOK_MAX)
		return 400;
	ll = snprintf(line, sizeof line, "request conn=%lu tok=%s path=%s\n", c->num, tok, path);
	write_all(2, line, (size_t)ll);

	if (strcmp(seg[0], "hello") == 0)
		return 200;
	if (strcmp(seg[0], "stall") == 0 && n == 3) {
		*stall = strtol(seg[1], NULL, 10);
		return 200;
	}
	if (strcmp(seg[0], "sig") == 0 && n == 3) {
		struct itimerspec v = after_ms(strtol(seg[1], NULL, 10));

		if (timer_settime(sig_timer, 0, &v, NULL) < 0)
			die("timer_settime sig");
		fprintf(stderr, "armed kind=sig tok=%s\n", tok);
		return 200;
	}
	if (strcmp(seg[0], "tf") == 0 && n >= 4 && (i = index_ok(seg[2], NTF)) >= 0) {
		struct tf *t = &tfs[i];

		if (strcmp(seg[1], "arm") == 0 && n == 5) {
			struct itimerspec v;

			ms = strtol(seg[3], NULL, 10);
			if (ms <= 0)
				return 400;
			v = after_ms(ms);
			snprintf(t->armed_by, sizeof t->armed_by, "%s", tok);
			t->retry = 0;
			if (timerfd_settime(t->it.fd, 0, &v, NULL) < 0)
				die("timerfd_settime");
			fprintf(stderr, "armed kind=tf t=%d ms=%ld tok=%s\n", i, ms, tok);
			return 200;
		}
		if ((strcmp(seg[1], "disarm") == 0 || strcmp(seg[1], "retry") == 0) && n == 4) {
			struct itimerspec v;

			memset(&v, 0, sizeof v);
			if (timerfd_settime(t->it.fd, 0, &v, NULL) < 0)
				die("timerfd_settime disarm");
			strcpy(t->armed_by, "none");
			t->retry = seg[1][0] == 'r';
			fprintf(stderr, "%s kind=tf t=%d tok=%s\n",
				t->retry ? "retry" : "disarmed", i, tok);
			return 200;
		}
		return 404;
	}
	if (strcmp(seg[0], "pt") == 0 && n >= 4 && (i = index_ok(seg[2], NPT)) >= 0) {
		struct pt *t = &pts[i];

		if (strcmp(seg[1], "arm") == 0 && n == 5) {
			struct itimerspec v;

			ms = strtol(seg[3], NULL, 10);
			if (ms <= 0)
				return 400;
			v = after_ms(ms);
			pthread_mutex_lock(&pt_lock);
			snprintf(t->armed_by, sizeof t->armed_by, "%s", tok);
			t->retry = 0;
			pthread_mutex_unlock(&pt_lock);
			if (timer_settime(t->id, 0, &v, NULL) < 0)
				die("timer_settime");
			fprintf(stderr, "armed kind=pt t=%d ms=%ld tok=%s\n", i, ms, tok);
			return 200;
		}
		if ((strcmp(seg[1], "disarm") == 0 || strcmp(seg[1], "retry") == 0) && n == 4) {
			struct itimerspec v;
			int retry = seg[1][0] == 'r';

			memset(&v, 0, sizeof v);
			if (timer_settime(t->id, 0, &v, NULL) < 0)
				die("timer_settime disarm");
			pthread_mutex_lock(&pt_lock);
			strcpy(t->armed_by, "none");
			t->retry = retry;
			pthread_mutex_unlock(&pt_lock);
			fprintf(stderr, "%s kind=pt t=%d tok=%s\n", retry ? "retry" : "disarmed", i, tok);
			return 200;
		}
		return 404;
	}
	return 404;
}

static void on_conn(struct conn *c)
{
	ssize_t r;
	char *end;

	if (c->len == sizeof c->buf) {
		conn_close(c);
		return;
	}
	r = read(c->it.fd, c->buf + c->len, sizeof c->buf - c->len - 1);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (r == 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	while ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
		size_t head_len = (size_t)(end - c->buf) + 4;
		char path[REQ_MAX], resp[256], *sp1, *sp2;
		long stall = 0;
		int status, rl, close_after;

		sp1 = strchr(c->buf, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp2 == NULL || sp2 > end) {
			conn_close(c);
			return;
		}
		memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		path[sp2 - sp1 - 1] = '\0';
		close_after = memmem(c->buf, head_len, "Connection: close", 17) != NULL;
		status = handle(c, path, &stall);
		rl = snprintf(resp, sizeof resp,
			      "HTTP/1.1 %d %s\r\nContent-Length: 3\r\n%s\r\n%s\n", status,
			      status == 200 ? "OK" : "Error",
			      close_after ? "Connection: close\r\n" : "",
			      status == 200 ? "ok" : "no");
		if (send_all_nb(c->it.fd, resp, (size_t)rl) < 0) {
			conn_close(c);
			return;
		}
		if (stall > 0) {
			sleep_ms(stall);
			fprintf(stderr, "stall done tok=%s\n", strrchr(path, '/') + 1);
		}
		memmove(c->buf, c->buf + head_len, c->len - head_len + 1);
		c->len -= head_len;
		if (close_after) {
			conn_close(c);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct item lst = { .kind = K_LISTEN }, sig = { .kind = K_SIGNAL };
	struct item house = { .kind = K_HOUSE };
	struct epoll_event ev, evs[MAX_EVENTS];
	struct itimerspec hv;
	sigset_t mask;
	unsigned short port;
	int running = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig.fd < 0)
		die("signalfd");

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	timers_init();
	house.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (house.fd < 0)
		die("timerfd_create housekeeping");
	hv = after_ms(50);
	hv.it_interval = hv.it_value;
	if (timerfd_settime(house.fd, 0, &hv, NULL) < 0)
		die("timerfd_settime housekeeping");

	lst.fd = listen_loopback(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 512, &port);

	ev.events = EPOLLIN;
	ev.data.ptr = &lst;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lst.fd, &ev) < 0)
		die("epoll_ctl add listener");
	ev.data.ptr = &sig;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sig.fd, &ev) < 0)
		die("epoll_ctl add signalfd");
	ev.data.ptr = &house;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, house.fd, &ev) < 0)
		die("epoll_ctl add housekeeping");

	fprintf(stderr, "listening\n");
	write_port_file(argv[1], port);

	while (running) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;

			switch (it->kind) {
			case K_LISTEN:
				on_listen(it);
				break;
			case K_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(it->fd, &si, sizeof si) == (ssize_t)sizeof si)
					running = 0;
				break;
			}
			case K_CONN:
				on_conn((struct conn *)it);
				break;
			case K_TIMERFD:
				on_timerfd((struct tf *)it);
				break;
			case K_HOUSE:
				on_house(it);
				break;
			}
			if (!running)
				break;
		}
	}
	/* Quiet the timers so no notification thread races the exit. */
	for (int i = 0; i < NPT; i++)
		timer_delete(pts[i].id);
	timer_delete(sig_timer);
	fprintf(stderr, "shutdown\n");
	return 0;
}
