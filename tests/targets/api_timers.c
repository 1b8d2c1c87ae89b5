/*
 * api_timers - a single-threaded epoll HTTP/1.1 server with a user-space
 * timer heap, the case the agent cannot follow by itself: it uses the
 * explicit API (shims/reqctx.h) to carry each request's context to the
 * callback it schedules (tests/integration/t_api). Built against the
 * header only: it runs without the agent too (every call is then a no-op
 * and reqctx_id() is NULL).
 *
 *   api_timers PORT_FILE
 *
 * Requests (keep-alive; the test sends TOK as the X-Request-Id too):
 *   /later/MS/TOK    schedule a callback in MS ms: the heap entry keeps
 *                    reqctx_snapshot(); the loop runs it with the snapshot
 *                    entered, one of three ways by arrival order:
 *                    0 reqctx_run, 1 reqctx_enter + reqctx_leave,
 *                    2 reqctx_run of a callback that itself runs a nested
 *                      reqctx_run(NULL, ...) (no context) and logs again
 *   /quit/TOK        stop after answering
 * At start-up (no context) the program schedules one "boot" callback.
 * The heap runs only when epoll_wait timed out (no event: no context).
 *
 * stderr (ID is reqctx_id(), "(null)" when there is none):
 *   listening snapshot=null|set                  start-up
 *   scheduled tok=TOK ms=MS how=H id=ID          in the request
 *   callback tok=TOK how=H id=ID                 the callback
 *   nested none tok=TOK id=ID                    inside reqctx_run(NULL)
 *   callback after-nested tok=TOK id=ID          back in the callback
 *   after tok=TOK id=ID                          the loop, after leaving
 *   boot callback id=ID                          the boot callback
 *   loop ran=N id=ID                             after a heap run
 *   quit tok=TOK
 *   shutdown id=ID                               inside reqctx_enter(NULL)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../shims/reqctx.h"
#include "target.h"

#define MAX_EVENTS 64
#define REQ_MAX 8192
#define TOK_MAX 128
#define HEAP_MAX 4096

enum kind { K_LISTEN, K_CONN };

struct conn {
	enum kind kind;
	int fd;
	size_t len;
	char buf[REQ_MAX];
};

struct entry {
	long long due;                  /* ms, CLOCK_MONOTONIC */
	unsigned long seq;              /* ties: arrival order */
	reqctx_snapshot_t snap;
	int how;                        /* 0 run, 1 enter/leave, 2 nested, 3 boot */
	char tok[TOK_MAX + 1];
};

static struct entry *heap[HEAP_MAX];
static int nheap;
static unsigned long seq;
static int ep = -1;
static int running = 1;

static const char *cur_id(void)
{
	const char *id = reqctx_id();

	return id ? id : "(null)";
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the timer heap ------------------------------------------------------- */

static int before(const struct entry *a, const struct entry *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct entry *e)
{
	int i = nheap++;

	while (i > 0 && before(e, heap[(i - 1) / 2])) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = e;
}

static struct entry *heap_pop(void)
{
	struct entry *top = heap[0], *last = heap[--nheap];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= nheap)
			break;
		if (c + 1 < nheap && before(heap[c + 1], heap[c]))
			c++;
		if (!before(heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap > 0)
		heap[i] = last;
	return top;
}

static void schedule(long ms, int how, const char *tok)
{
	struct entry *e;

	if (nheap == HEAP_MAX)
		die("timer heap full");
	e = calloc(1, sizeof *e);
	if (e == NULL)
		die("calloc");
	e->due = now_ms() + ms;
	e->seq = seq++;
	e->how = how;
	e->snap = reqctx_snapshot();
	snprintf(e->tok, sizeof e->tok, "%s", tok);
	heap_push(e);
}

static void *cb_none(void *arg)
{
	struct entry *e = arg;

	fprintf(stderr, "nested none tok=%s id=%s\n", e->tok, cur_id());
	return NULL;
}

static void *callback(void *arg)
{
	struct entry *e = arg;

	if (e->how == 3) {
		fprintf(stderr, "boot callback id=%s\n", cur_id());
		return NULL;
	}
	fprintf(stderr, "callback tok=%s how=%d id=%s\n", e->tok, e->how, cur_id());
	if (e->how == 2) {
		reqctx_run(NULL, cb_none, e);
		fprintf(stderr, "callback after-nested tok=%s id=%s\n", e->tok, cur_id());
	}
	return NULL;
}

static int run_due(void)
{
	long long now = now_ms();
	int n = 0;

	while (nheap > 0 && heap[0]->due <= now) {
		struct entry *e = heap_pop();

		if (e->how == 1) {
			reqctx_snapshot_t prev = reqctx_enter(e->snap);

			callback(e);
			reqctx_leave(prev);
		} else {
			reqctx_run(e->snap, callback, e);
		}
		if (e->how != 3)
			fprintf(stderr, "after tok=%s id=%s\n", e->tok, cur_id());
		reqctx_release(e->snap);
		free(e);
		n++;
	}
	return n;
}

/* ---- the server ----------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void on_listen(int lfd)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev;
		struct conn *c;

		if (fd < 0)
			return;
		c = calloc(1, sizeof *c);
		if (c == NULL)
			die("calloc");
		c->kind = K_CONN;
		c->fd = fd;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl add conn");
	}
}

static int handle(char *path)
{
	static unsigned long nreq;
	char *seg[4], *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(path, "/", &save); t && n < 4; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	if (n == 3 && strcmp(seg[0], "later") == 0 && strlen(seg[2]) <= TOK_MAX) {
		long ms = strtol(seg[1], NULL, 10);
		int how = (int)(nreq++ % 3);

		schedule(ms, how, seg[2]);
		fprintf(stderr, "scheduled tok=%s ms=%ld how=%d id=%s\n", seg[2], ms, how, cur_id());
		return 200;
	}
	if (n == 2 && strcmp(seg[0], "quit") == 0) {
		fprintf(stderr, "quit tok=%s\n", seg[1]);
		running = 0;
		return 200;
	}
	return 404;
}

static void on_conn(struct conn *c)
{
	ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1);
	char *end;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	while ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
		size_t head_len = (size_t)(end - c->buf) + 4;
		char path[REQ_MAX], resp[160], *sp1, *sp2;
		int status, rl;

		sp1 = strchr(c->buf, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp2 == NULL || sp2 > end) {
			conn_close(c);
			return;
		}
		memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		path[sp2 - sp1 - 1] = '\0';
		status = handle(path);
		rl = snprintf(resp, sizeof resp, "HTTP/1.1 %d %s\r\nContent-Length: 3\r\n\r\n%s\n",
			      status, status == 200 ? "OK" : "Error", status == 200 ? "ok" : "no");
		if (send_all_nb(c->fd, resp, (size_t)rl) < 0) {
			conn_close(c);
			return;
		}
		memmove(c->buf, c->buf + head_len, c->len - head_len + 1);
		c->len -= head_len;
	}
}

int main(int argc, char **argv)
{
	struct conn lst = { .kind = K_LISTEN };
	struct epoll_event ev, evs[MAX_EVENTS];
	reqctx_snapshot_t boot, prev;
	unsigned short port;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	lst.fd = listen_loopback(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 512, &port);
	ev.events = EPOLLIN;
	ev.data.ptr = &lst;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lst.fd, &ev) < 0)
		die("epoll_ctl add listener");

	boot = reqctx_snapshot();
	fprintf(stderr, "listening snapshot=%s\n", boot ? "set" : "null");
	reqctx_release(boot);
	schedule(50, 3, "boot");
	write_port_file(argv[1], port);

	while (running) {
		int timeout = -1, n;

		if (nheap > 0) {
			long long d = heap[0]->due - now_ms();

			timeout = d < 0 ? 0 : d > 1000 ? 1000 : (int)d;
		}
		n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		if (n == 0) {
			int ran = run_due();

			if (ran)
				fprintf(stderr, "loop ran=%d id=%s\n", ran, cur_id());
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->kind == K_LISTEN)
				on_listen(c->fd);
			else
				on_conn(c);
		}
	}
	prev = reqctx_enter(NULL);
	fprintf(stderr, "shutdown id=%s pending=%d\n", cur_id(), nheap);
	reqctx_leave(prev);
	return 0;
}
