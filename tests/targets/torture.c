/*
 * torture - hostile conditions for the agent's line writer, for
 * tests/integration/t_torture. The agent must never break its host: every
 * mode below must behave exactly as it does without the agent, apart from
 * the prefixes.
 *
 *   torture OUTDIR stream THREADS LINES SEED
 *   torture OUTDIR signals THREADS MSECS INTERVAL_US
 *   torture OUTDIR pipe
 *   torture OUTDIR closed
 *   torture OUTDIR eintr
 *   torture OUTDIR fork FORKS
 *
 * Contexts are taken the way a server gets them (as tests/targets/lines.c
 * does): the thread opens a loopback listener, connects to it, sends
 *   GET /<ID> HTTP/1.1\r\nX-Request-Id: <ID>\r\n\r\n
 * accepts and reads the request on the accepted fd, which makes <ID>
 * current. Writing one byte to that accepted fd later makes <ID> current
 * again (any write on an accepted connection does); poll() with no fds
 * leaves the thread without a context (a waiting thread has none).
 *
 * Every line written in a context begins with "<ID> ", so the checker can
 * tell whose line it is without trusting the prefix.
 *
 * stream: THREADS threads write LINES lines in all, of random sizes from 1
 *   byte to 1 MiB (most short, a few of 200 KiB - 1 MiB), through write,
 *   writev, fprintf, fputs, fputc pieces and fwrite. Halfway each thread
 *   takes a second context and from then on switches between its two now
 *   and then. Lines longer than 3500 bytes are written in one call (a line
 *   longer than the 4 KiB the agent holds may be cut by other threads'
 *   lines when written in pieces: the documented bound); shorter ones are
 *   written whole or in pieces. OUTDIR/T<k>.expected: what thread k wrote;
 *   OUTDIR/T<k>.ids: its two IDs; OUTDIR/errno.count: "errno_moved N",
 *   the calls that succeeded and changed errno (it is set to a mark
 *   before each).
 * signals: THREADS writers as in stream mode (no line over 8 KiB; those
 *   under 3500 bytes whole or in pieces, longer ones in one call) and a stream of short-lived threads (each writes a line
 *   without context and exits) run for MSECS while SIGALRM fires every
 *   INTERVAL_US (setitimer); the main thread blocks SIGALRM, so the
 *   signal lands on a writing thread. The handler writes one complete
 *   line with write(2):
 *     SIG <seq> k=<writer or -1> call=<in a write call> partial=<mid-line>
 *   OUTDIR/signals.count: "handled N failed F churn C stuck S". A thread
 *   that does not end (a short-lived one after 3 s, the writers 5 s after
 *   being told to stop) is a deadlock: it is described in OUTDIR/stuck,
 *   the process waits up to 20 s for OUTDIR/stuck.ack (the test takes the
 *   backtraces meanwhile), saves what it has and leaves with exit_group,
 *   since the stuck thread may hold the agent's locks.
 * pipe: fd 2 is a non-blocking pipe of 4096 bytes (one page); the process
 *   writes with and without a context while the pipe is full, partly
 *   drained, drained, and filled to chosen levels, and drains it itself
 *   at fixed points. OUTDIR/pipe.results: one line per call,
 *     <step> <cmp|setup|free> <label> <return> <errno name> <ferror> [ms=<ms>]
 *   cmp: to be compared with a run without the agent; setup: a filler
 *   line (its size depends on the prefix); free: not compared, its result
 *   differs by design (a cut in the second line's prefix; an unfinished
 *   line the agent holds "as a larger pipe would"). OUTDIR/pipe.out:
 *   every byte read out of the pipe; pipe.expected: the bytes the program
 *   believes it wrote (what the return values said); pipe.info: "H h N n".
 *   The agent's prefix takes room in the pipe: the process measures how
 *   much (H: the pipe's size after a probe line minus the line; 0 without
 *   the agent) and fills the pipe H bytes less before a step whose line
 *   starts with a prefix, so that its own bytes meet the same room with
 *   and without the agent. Line sizes that must cut the prefix are
 *   computed from the nominal prefix length, strlen(ID) + 3, so they are
 *   the same in both runs.
 * closed: fd 2 is closed; every way of writing a line is tried with and
 *   without a context. OUTDIR/closed.results as in pipe mode; the exit
 *   status is 10 + the number of compared calls that failed.
 * eintr: fd 2 is a blocking pipe of one page, full (or filled so that only
 *   part of a line fits); a SIGALRM handler installed without SA_RESTART
 *   interrupts each write after 100 ms (then every 1500 ms: a write that
 *   swallowed the first signal still ends). OUTDIR/eintr.results (with the
 *   milliseconds each call took), .out, .expected, .info as in pipe mode.
 * fork: two threads with their own contexts write complete lines without
 *   pause, each in one call (thread 1 mostly 1-3.3 KiB lines with fprintf,
 *   which libc formats through a stream of its own); the main thread, in context fork-main, forks FORKS times; each
 *   child writes two lines (fprintf and write) and leaves with exit or
 *   _exit. A child that has not ended after 5 s is a deadlock: its state
 *   (/proc/PID/stat, wchan, syscall) goes to OUTDIR/fork.hung and it is
 *   killed. OUTDIR/fork.result: "forks N ok K hung H bad B maxms M".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <stdbool.h>
#include <unistd.h>

#define TARGET_OWN_DIE
#include "target.h"

#define MAX_THREADS 64
#define ID_MAX 128
#define MIB (1024 * 1024)
#define PIECE_MAX 3500          /* lines written in pieces stay below this */

static const char *outdir;
static int diag_fd = -1;        /* the original stderr, for our own failures */

static void die(const char *what)
{
	char buf[512];
	int e = errno;
	int n = snprintf(buf, sizeof buf, "torture: %s: %s\n", what, strerror(e));

	if (diag_fd >= 0 && n > 0)
		if (write(diag_fd, buf, (size_t)n) < 0)
			(void)0;
	_exit(99);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- growing byte buffers ------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			die("realloc");
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die("buf_printf: too long");
	buf_add(b, tmp, (size_t)n);
}

static void write_file(const char *name, const void *p, size_t n)
{
	write_file_in(outdir, name, p, n);
}

/* ---- random numbers -------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: deterministic per thread, so a failure reproduces */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static size_t below(uint64_t *s, size_t n)
{
	return n ? (size_t)(rnd(s) % n) : 0;
}

static void spin(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

static const char line_chars[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/* ---- contexts ---------------------------------------------------------------- */

struct conn {
	int fds[3];                 /* listener, client, accepted */
};

static void take_context(struct conn *c, const char *id)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	char req[512], buf[1024];
	size_t got = 0;
	int n;

	c->fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fds[0] < 0)
		die("socket");
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(c->fds[0], (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(c->fds[0], 4) < 0 ||
	    getsockname(c->fds[0], (struct sockaddr *)&a, &alen) < 0)
		die("listener");
	c->fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fds[1] < 0 || connect(c->fds[1], (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	n = snprintf(req, sizeof req,
		     "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: %s\r\n\r\n", id, id);
	if (send(c->fds[1], req, (size_t)n, MSG_NOSIGNAL) != n)
		die("send");
	do
		c->fds[2] = accept(c->fds[0], NULL, NULL);
	while (c->fds[2] < 0 && errno == EINTR);
	if (c->fds[2] < 0)
		die("accept");
	while (got < (size_t)n) {
		ssize_t r = read(c->fds[2], buf + got, sizeof buf - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read request");
		got += (size_t)r;
	}
}

/* Makes the connection's context current again: a write on it does. */
static void ctx_on(struct conn *c)
{
	ssize_t r;

	do
		r = write(c->fds[2], "x", 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		die("write to the accepted connection");
}

/* No context: a thread that waits has none (a poll of no fd that waits
 * is a sleep; one that waits no time is no wait at all). */
static void ctx_off(void)
{
	poll(NULL, 0, 1);
}

/* ---- writing whole buffers in the ways a program does ------------------------- */

/* errno before each call, and how many calls that succeeded changed it
 * (stream mode writes the count to OUTDIR/errno.count). POSIX leaves
 * errno after a successful call unspecified; glibc's write, writev and
 * stdio output functions leave it alone, and so must the agent: the
 * count is 0 without it (POSIX.1-2017, 2.3). */
#define ERRNO_MARK 7777
static unsigned long errno_moved;

static void errno_mark(void)
{
	errno = ERRNO_MARK;
}

static void errno_check(bool ok)
{
	if (ok && errno != ERRNO_MARK)
		__atomic_fetch_add(&errno_moved, 1, __ATOMIC_RELAXED);
}

static void x_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;

		errno_mark();
		w = write(2, p, n);
		errno_check(w >= 0);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write(2)");
		}
		p += w;
		n -= (size_t)w;
	}
}

static void x_writev(uint64_t *rng, const char *p, size_t n)
{
	size_t a = below(rng, n + 1), b = a + below(rng, n - a + 1);
	struct iovec iov[3] = {
		{ (void *)p, a }, { (void *)(p + a), b - a }, { (void *)(p + b), n - b },
	};
	ssize_t w;

	do {
		errno_mark();
		w = writev(2, iov, 3);
		errno_check(w >= 0);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		die("writev(2)");
	if ((size_t)w < n)
		x_write(p + w, n - (size_t)w);
}

static void x_fprintf(const char *p, size_t n)
{
	int r;

	errno_mark();
	r = fprintf(stderr, "%.*s", (int)n, p);
	errno_check(r == (int)n);
	if (r != (int)n)
		die("fprintf(stderr)");
}

static void x_fwrite(const char *p, size_t n)
{
	size_t r;

	errno_mark();
	r = fwrite(p, 1, n, stderr);
	errno_check(r == n);
	if (r != n)
		die("fwrite(stderr)");
}

/* fputs needs a NUL-terminated string: the caller's buffer has room. */
static void x_fputs(char *p, size_t n)
{
	char saved = p[n];

	p[n] = '\0';
	errno_mark();
	if (fputs(p, stderr) < 0)
		die("fputs(stderr)");
	errno_check(true);
	p[n] = saved;
}

static void x_fputc(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fputc((unsigned char)p[i], stderr) == EOF)
			die("fputc(stderr)");
}

/* Thread-local state the signal handler reports (signals mode). */
static __thread volatile sig_atomic_t in_call, mid_line;
static __thread int my_k = -1;

/* One piece through a randomly chosen function. */
static void x_piece(uint64_t *rng, char *p, size_t n)
{
	size_t w = below(rng, n <= 64 ? 6 : 5);

	in_call = 1;
	switch (w) {
	case 0: x_write(p, n); break;
	case 1: x_writev(rng, p, n); break;
	case 2: x_fprintf(p, n); break;
	case 3: x_fwrite(p, n); break;
	case 4: x_fputs(p, n); break;
	default: x_fputc(p, n); break;
	}
	in_call = 0;
}

/* Writes one line (p[n - 1] == '\n', p[n] writable). Long lines go in one
 * call; short ones whole or in up to five pieces. */
static void x_line(uint64_t *rng, char *p, size_t n)
{
	if (n > PIECE_MAX) {
		size_t w = below(rng, 4);

		in_call = 1;
		if (w == 0)
			x_write(p, n);
		else if (w == 1)
			x_writev(rng, p, n);
		else if (w == 2)
			x_fwrite(p, n);
		else
			x_fputs(p, n);
		in_call = 0;
		return;
	}
	if (below(rng, 3) != 0) {
		x_piece(rng, p, n);
		return;
	}
	{
		size_t pieces = 2 + below(rng, 4), off = 0;

		for (size_t i = 0; i < pieces && off < n; i++) {
			size_t len = i + 1 == pieces ? n - off : 1 + below(rng, n - off);

			if (len > n - off)
				len = n - off;
			x_piece(rng, p + off, len);
			off += len;
			mid_line = off < n;
			if (off < n && below(rng, 3) == 0)
				spin((unsigned)below(rng, 2000));
		}
		mid_line = 0;
	}
}

/* ---- stream and signals: writer threads ----------------------------------------- */

struct wthr {
	int k;
	char id[2][ID_MAX + 1];
	struct conn conn[2];
	int cur;
	uint64_t rng;
	long lines;                 /* stream: lines to write */
	int max_big;                /* stream: may write 200 KiB - 1 MiB lines */
	struct buf exp;
	char *line;                 /* scratch, MIB + 256 */
	pid_t tid;
	int medium;                 /* mostly 1-3.3 KiB lines */
	long written;
};

static pthread_barrier_t start_barrier;
static volatile int stop_writers;

/* Builds line i of thread t in t->line: "<ID> <i> <body>\n"; returns its
 * length. */
static size_t make_line(struct wthr *t, long i, int allow_big)
{
	size_t r = below(&t->rng, 10000), body, n;

	if (t->medium && r < 9000)
		body = 1000 + below(&t->rng, 2300);       /* fprintf's long path */
	else if (allow_big && r < 8)
		body = 200 * 1024 + below(&t->rng, MIB - 200 * 1024 - 300);
	else if (r < 60)
		body = 4000 + below(&t->rng, allow_big ? 60000 : 4000);   /* one call */
	else if (r < 400)
		body = 1000 + below(&t->rng, 2300);       /* may go in pieces */
	else
		body = below(&t->rng, 150);
	n = (size_t)snprintf(t->line, 256, "%s %ld ", t->id[t->cur], i);
	for (size_t j = 0; j < body; j++) {
		size_t c = below(&t->rng, 300);

		if (c == 0 && j + 1 < body)
			t->line[n++] = '\r';
		else if (c == 1 && j + 1 < body)
			t->line[n++] = '\x01';
		else
			t->line[n++] = line_chars[below(&t->rng, sizeof line_chars - 1)];
	}
	t->line[n++] = '\n';
	return n;
}

static void *stream_main(void *arg)
{
	struct wthr *t = arg;
	long next_switch = -1;

	my_k = t->k;
	take_context(&t->conn[0], t->id[0]);
	t->cur = 0;
	pthread_barrier_wait(&start_barrier);
	for (long i = 0; i < t->lines; i++) {
		size_t n;

		if (i == t->lines / 2) {
			/* halfway: a second context, then back and forth */
			take_context(&t->conn[1], t->id[1]);
			t->cur = 1;
			next_switch = i + 50 + (long)below(&t->rng, 500);
		} else if (i == next_switch) {
			t->cur ^= 1;
			ctx_on(&t->conn[t->cur]);
			next_switch = i + 50 + (long)below(&t->rng, 500);
		}
		n = make_line(t, i, t->max_big);
		buf_add(&t->exp, t->line, n);
		x_line(&t->rng, t->line, n);
		if (below(&t->rng, 8) == 0)
			spin((unsigned)below(&t->rng, 3000));
	}
	return NULL;
}

static void make_ids(struct wthr *t, const char *mode, uint64_t seed)
{
	for (int j = 0; j < 2; j++) {
		if (t->k % 4 == 3 && j == 1) {
			int n = snprintf(t->id[j], sizeof t->id[j], "long-%s-T%d-c%d-", mode, t->k, j);

			memset(t->id[j] + n, 'L', ID_MAX - (size_t)n);
			t->id[j][ID_MAX] = '\0';
		} else if (t->k % 4 == 1) {
			snprintf(t->id[j], sizeof t->id[j], "%s.%llx_T%d:c%d/a+b=c@d",
				 mode, (unsigned long long)(seed & 0xffff), t->k, j);
		} else {
			snprintf(t->id[j], sizeof t->id[j], "%s-%llx-T%d-c%d",
				 mode, (unsigned long long)(seed & 0xffff), t->k, j);
		}
	}
}

static struct wthr *make_writers(int n, const char *mode, uint64_t seed)
{
	struct wthr *ts = calloc((size_t)n, sizeof *ts);

	if (ts == NULL)
		die("calloc");
	for (int k = 0; k < n; k++) {
		ts[k].k = k;
		ts[k].rng = (seed + 1) * 0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1);
		ts[k].line = malloc(MIB + 512);
		if (ts[k].line == NULL)
			die("malloc");
		make_ids(&ts[k], mode, seed);
	}
	return ts;
}

static void save_writers(struct wthr *ts, int n)
{
	for (int k = 0; k < n; k++) {
		char name[64], ids[2 * ID_MAX + 4];
		int m;

		snprintf(name, sizeof name, "T%d.expected", k);
		write_file(name, ts[k].exp.p, ts[k].exp.len);
		m = snprintf(ids, sizeof ids, "%s\n%s\n", ts[k].id[0], ts[k].id[1]);
		snprintf(name, sizeof name, "T%d.ids", k);
		write_file(name, ids, (size_t)m);
	}
}

static void run_stream(int n, long lines, uint64_t seed)
{
	pthread_t th[MAX_THREADS];
	struct wthr *ts = make_writers(n, "tort", seed);

	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)n) != 0)
		die("pthread_barrier_init");
	for (int k = 0; k < n; k++) {
		ts[k].lines = lines / n + (k < lines % n ? 1 : 0);
		ts[k].max_big = 1;
		if (pthread_create(&th[k], NULL, stream_main, &ts[k]) != 0)
			die("pthread_create");
	}
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	save_writers(ts, n);
	{
		char res[64];
		int m = snprintf(res, sizeof res, "errno_moved %lu\n",
				 __atomic_load_n(&errno_moved, __ATOMIC_RELAXED));

		write_file("errno.count", res, (size_t)m);
	}
}

static void proc_note(struct buf *b, pid_t pid, const char *what);

/* ---- signals ----------------------------------------------------------------------- */

static unsigned long sig_seq, sig_failed;

static size_t put_u(char *d, unsigned long v)
{
	char t[24];
	size_t n = 0, i;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		d[i] = t[n - 1 - i];
	return n;
}

static void on_alarm(int sig)
{
	int saved = errno;
	char line[128];
	size_t n = 0;
	unsigned long seq = __atomic_fetch_add(&sig_seq, 1, __ATOMIC_RELAXED);
	ssize_t w;

	(void)sig;
	memcpy(line, "SIG ", 4);
	n = 4;
	n += put_u(line + n, seq);
	memcpy(line + n, " k=", 3);
	n += 3;
	if (my_k < 0) {
		line[n++] = '-';
		line[n++] = '1';
	} else {
		n += put_u(line + n, (unsigned long)my_k);
	}
	memcpy(line + n, " call=", 6);
	n += 6;
	line[n++] = in_call ? '1' : '0';
	memcpy(line + n, " partial=", 9);
	n += 9;
	line[n++] = mid_line ? '1' : '0';
	line[n++] = '\n';
	w = write(2, line, n);
	if (w != (ssize_t)n)
		__atomic_fetch_add(&sig_failed, 1, __ATOMIC_RELAXED);
	errno = saved;
}

static void *signal_writer(void *arg)
{
	struct wthr *t = arg;
	sigset_t s;

	my_k = t->k;
	t->tid = gettid();
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	take_context(&t->conn[0], t->id[0]);
	take_context(&t->conn[1], t->id[1]);
	t->cur = 1;
	pthread_barrier_wait(&start_barrier);
	for (long i = 0; !__atomic_load_n(&stop_writers, __ATOMIC_RELAXED); i++) {
		size_t n;

		if (i % 200 == 199) {
			t->cur ^= 1;
			ctx_on(&t->conn[t->cur]);
		}
		n = make_line(t, i, 0);
		buf_add(&t->exp, t->line, n);
		x_line(&t->rng, t->line, n);
		t->written++;
	}
	return NULL;
}

#define CHURN_MAX 1000000

static pid_t churn_tid[CHURN_MAX];

static void *churn_thread(void *arg)
{
	unsigned long i = (unsigned long)(uintptr_t)arg;
	char line[128];
	int n;
	sigset_t s;

	churn_tid[i] = gettid();
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	n = snprintf(line, sizeof line, "churn %lu short-lived thread line\n", i);
	in_call = 1;
	x_write(line, (size_t)n);
	in_call = 0;
	return NULL;
}

/* pthread_join, but gives up after `ms`: returns 0 or ETIMEDOUT. */
static int join_within(pthread_t t, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

static void task_note(struct buf *b, pid_t tid)
{
	char what[64];

	snprintf(what, sizeof what, "task/%d/stat", (int)tid);
	proc_note(b, getpid(), what);
	snprintf(what, sizeof what, "task/%d/wchan", (int)tid);
	proc_note(b, getpid(), what);
	snprintf(what, sizeof what, "task/%d/syscall", (int)tid);
	proc_note(b, getpid(), what);
}

/* A thread did not end: describe it in OUTDIR/stuck, give the test a
 * moment to take its backtraces (it answers with OUTDIR/stuck.ack). */
static void report_stuck(struct buf *b)
{
	char path[4096];
	double end = now_ms() + 20000;

	write_file("stuck", b->p, b->len);
	snprintf(path, sizeof path, "%s/stuck.ack", outdir);
	while (now_ms() < end && access(path, F_OK) != 0) {
		struct timespec ms = { 0, 10000000 };

		nanosleep(&ms, NULL);
	}
}

static void run_signals(int n, long msecs, long interval_us)
{
	pthread_t th[MAX_THREADS];
	struct wthr *ts = make_writers(n, "sig", 7);
	struct sigaction sa;
	struct itimerval it;
	struct buf stuck = { 0 };
	sigset_t s;
	double end;
	unsigned long churn = 0, nstuck = 0;
	char res[256];
	int m;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		die("sigaction");
	/* main (and the threads it creates, until they unblock it) never
	 * takes SIGALRM: it goes to the writers */
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1) != 0)
		die("pthread_barrier_init");
	for (int k = 0; k < n; k++)
		if (pthread_create(&th[k], NULL, signal_writer, &ts[k]) != 0)
			die("pthread_create");
	pthread_barrier_wait(&start_barrier);
	memset(&it, 0, sizeof it);
	it.it_interval.tv_usec = interval_us;
	it.it_value.tv_usec = interval_us;
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		die("setitimer");
	end = now_ms() + (double)msecs;
	while (now_ms() < end && churn < CHURN_MAX) {
		pthread_t c;

		if (pthread_create(&c, NULL, churn_thread, (void *)(uintptr_t)churn) != 0)
			die("pthread_create churn");
		if (join_within(c, 3000) != 0) {
			buf_printf(&stuck, "short-lived thread %lu (tid %d) has not ended after 3 s\n",
				   churn, (int)churn_tid[churn]);
			task_note(&stuck, churn_tid[churn]);
			nstuck++;
			churn++;
			break;
		}
		churn++;
	}
	__atomic_store_n(&stop_writers, 1, __ATOMIC_RELAXED);
	end = now_ms() + 5000;
	for (int k = 0; k < n; k++) {
		long left = (long)(end - now_ms());

		if (join_within(th[k], left > 0 ? left : 0) != 0) {
			buf_printf(&stuck, "writer %d (tid %d) has not ended 5 s after being told to stop\n",
				   k, (int)ts[k].tid);
			task_note(&stuck, ts[k].tid);
			nstuck++;
		}
	}
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	if (nstuck)
		report_stuck(&stuck);
	save_writers(ts, n);
	m = snprintf(res, sizeof res, "handled %lu failed %lu churn %lu stuck %lu\n",
		     __atomic_load_n(&sig_seq, __ATOMIC_RELAXED),
		     __atomic_load_n(&sig_failed, __ATOMIC_RELAXED), churn, nstuck);
	write_file("signals.count", res, (size_t)m);
	/* A stuck thread may hold the agent's locks: leave without exit
	 * handlers (everything this mode writes is complete lines). */
	if (nstuck)
		syscall(SYS_exit_group, 0);
}

/* ---- pipe, closed, eintr: recorded steps ------------------------------------------ */

static struct buf results;      /* one line per step */
static struct buf ledger;       /* what the program believes it wrote */
static struct buf captured;     /* what came out of the pipe */
static int step_no;
static int steps_failed;        /* steps that returned an error */
static int rfd = -1;            /* the pipe's read end */
static double last_ms = -1;     /* eintr: how long the last call took */
static int timed;               /* eintr: record it */

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EINTR: return "EINTR";
	case EPIPE: return "EPIPE";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	default: return "other";
	}
}

static void record(int cmp, const char *label, long ret, int err)
{
	int fe = ferror(stderr) ? 1 : 0;

	if (ret < 0)
		steps_failed++;
	buf_printf(&results, "%d %s %s %ld %s %d", ++step_no,
		   cmp == 1 ? "cmp" : cmp == 2 ? "setup" : "free",
		   label, ret, ret < 0 || err ? errname(err) : "0", fe);
	if (last_ms >= 0 && timed)
		buf_printf(&results, " ms=%.0f", last_ms);
	buf_add(&results, "\n", 1);
	last_ms = -1;
	clearerr(stderr);
}

/* A line of exactly n bytes: "<tag> " + filler + "\n". */
static char *mkline(const char *tag, size_t n)
{
	static char *s;
	static size_t cap;
	size_t t = strlen(tag);

	if (n + 1 > cap) {
		cap = n + 1 > 65536 ? n + 1 : 65536;
		s = realloc(s, cap);
		if (s == NULL)
			die("realloc");
	}
	if (n < t + 2)
		die("mkline: too short");
	memcpy(s, tag, t);
	s[t] = ' ';
	for (size_t i = t + 1; i + 1 < n; i++)
		s[i] = (char)('a' + (i % 26));
	s[n - 1] = '\n';
	s[n] = '\0';
	return s;
}

static double t_start;

static void call_begins(void)
{
	t_start = now_ms();
}

static void call_ends(void)
{
	last_ms = now_ms() - t_start;
}

/* write(2, p, n): the bytes the kernel (or agent) said it took go to the
 * ledger. Returns what write returned. */
static long s_write(int cmp, const char *label, const char *p, size_t n)
{
	ssize_t r;
	int e;

	errno = 0;
	call_begins();
	r = write(2, p, n);
	e = errno;
	call_ends();
	if (r > 0)
		buf_add(&ledger, p, (size_t)r);
	record(cmp, label, (long)r, r < 0 ? e : 0);
	return (long)r;
}

static long s_writev(int cmp, const char *label, const char *p, size_t n)
{
	/* three iovecs: a third, an empty one, the rest */
	struct iovec v[3] = {
		{ (void *)p, n / 3 }, { (void *)(p + n / 3), 0 }, { (void *)(p + n / 3), n - n / 3 },
	};
	ssize_t r;
	int e;

	errno = 0;
	call_begins();
	r = writev(2, v, 3);
	e = errno;
	call_ends();
	if (r > 0)
		buf_add(&ledger, p, (size_t)r);
	record(cmp, label, (long)r, r < 0 ? e : 0);
	return (long)r;
}

/* The stdio calls: all or nothing goes to the ledger (stdio does not say
 * how much of a failed call went out; the schedule never lets one fail
 * half-way). */
static void s_fprintf(int cmp, const char *label, const char *line)
{
	int r, e;

	errno = 0;
	call_begins();
	r = fprintf(stderr, "%s", line);
	e = errno;
	call_ends();
	if (r == (int)strlen(line))
		buf_add(&ledger, line, strlen(line));
	record(cmp, label, r, r < 0 ? e : 0);
}

static void s_fputs(int cmp, const char *label, const char *line)
{
	int r, e;

	errno = 0;
	call_begins();
	r = fputs(line, stderr);
	e = errno;
	call_ends();
	if (r >= 0)
		buf_add(&ledger, line, strlen(line));
	record(cmp, label, r >= 0 ? 1 : -1, r < 0 ? e : 0);
}

static void s_fwrite(int cmp, const char *label, const char *line)
{
	size_t n = strlen(line), r;
	int e;

	errno = 0;
	call_begins();
	r = fwrite(line, 1, n, stderr);
	e = errno;
	call_ends();
	if (r == n)
		buf_add(&ledger, line, n);
	record(cmp, label, r == n ? (long)r : -1, r == n ? 0 : e);
}

static void s_fputc(int cmp, const char *label, int c)
{
	int r, e;
	char ch = (char)c;

	errno = 0;
	call_begins();
	r = fputc(c, stderr);
	e = errno;
	call_ends();
	if (r == c)
		buf_add(&ledger, &ch, 1);
	record(cmp, label, r == EOF ? -1 : r, r == EOF ? e : 0);
}

static void s_dprintf(int cmp, const char *label, const char *line)
{
	int r, e;

	errno = 0;
	call_begins();
	r = dprintf(2, "%s", line);
	e = errno;
	call_ends();
	if (r == (int)strlen(line))
		buf_add(&ledger, line, strlen(line));
	record(cmp, label, r, r < 0 ? e : 0);
}

/* Reads what the pipe holds (at most `max` bytes, 0: all of it). */
static long drain(int cmp, const char *label, size_t max)
{
	char b[8192];
	long total = 0;

	for (;;) {
		size_t want = sizeof b;
		ssize_t r;

		if (max && (size_t)total + want > max)
			want = max - (size_t)total;
		if (want == 0)
			break;
		r = read(rfd, b, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_add(&captured, b, (size_t)r);
		total += r;
	}
	(void)cmp;
	(void)label;
	return total;
}

static int pipe_bytes(void)
{
	int n = 0;

	if (ioctl(rfd, FIONREAD, &n) != 0)
		die("FIONREAD");
	return n;
}

/* A line of `n` bytes without context, to bring the pipe to a level. The
 * step is checked (it must be taken whole) but not compared: its size
 * depends on the prefix length. */
static void fill(const char *label, long n)
{
	long r;

	if (n <= 0)
		return;
	ctx_off();
	r = s_write(2, label, mkline("filler", (size_t)n), (size_t)n);
	if (r != n) {
		errno = r < 0 ? errno : EIO;
		die("filler not taken whole");
	}
}

static const char pipe_id[] = "pipe-ctx-7d1";
static struct conn pconn;
static long H;                  /* prefix bytes per line in the pipe (0 without agent) */
static long N;                  /* nominal prefix: strlen(ID) + 3 */

typedef long (*wfn)(int, const char *, const char *, size_t);

static void set_ctx(int on)
{
	if (on)
		ctx_on(&pconn);
	else
		ctx_off();
}

/*
 * One line of n bytes written in stages: stage i drains the pipe (not
 * before stage 0 unless `drain0`), fills it to levels[i] (< 0: no fill),
 * writes what is left of the line, and when the line is still not done,
 * writes again at once (the pipe is then full: EAGAIN). A failure other
 * than EAGAIN ends the line.
 */
static void staged(int cmp, const char *name, wfn fn, int ctx, const char *p, size_t n,
		   const long *levels, int nlevels, int drain0)
{
	size_t done = 0;
	char lbl[96];

	for (int st = 0; done < n; st++) {
		if (st >= nlevels) {
			snprintf(lbl, sizeof lbl, "%s-unfinished", name);
			record(cmp, lbl, -1, 0);
			return;
		}
		if (st > 0 || drain0)
			drain(cmp, name, 0);
		fill("fill", levels[st]);
		for (int again = 0; again < 2 && done < n; again++) {
			long r;

			set_ctx(ctx);
			snprintf(lbl, sizeof lbl, "%s-s%d%c", name, st, again ? 'b' : 'a');
			r = fn(cmp, lbl, p + done, n - done);
			if (r > 0)
				done += (size_t)r;
			else if (r < 0 && errno != EAGAIN)
				return;
		}
	}
}

static void save_steps(const char *prefix)
{
	char name[64], info[128];
	int m;

	snprintf(name, sizeof name, "%s.results", prefix);
	write_file(name, results.p, results.len);
	snprintf(name, sizeof name, "%s.expected", prefix);
	write_file(name, ledger.p, ledger.len);
	snprintf(name, sizeof name, "%s.out", prefix);
	write_file(name, captured.p, captured.len);
	m = snprintf(info, sizeof info, "H %ld N %ld\n", H, N);
	snprintf(name, sizeof name, "%s.info", prefix);
	write_file(name, info, (size_t)m);
}

/* fd 2 := the write end of a one-page pipe; rfd := its read end. */
static void stderr_pipe(int nonblocking)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe2");
	if (fcntl(p[1], F_SETPIPE_SZ, 4096) < 0)
		die("F_SETPIPE_SZ");
	if (fcntl(p[1], F_GETPIPE_SZ) != 4096)
		die("F_GETPIPE_SZ is not 4096");
	if (dup2(p[1], 2) != 2)
		die("dup2");
	close(p[1]);
	if (nonblocking && fcntl(2, F_SETFL, fcntl(2, F_GETFL) | O_NONBLOCK) != 0)
		die("O_NONBLOCK on fd 2");
	if (fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) != 0)
		die("O_NONBLOCK on the read end");
	rfd = p[0];
	N = (long)strlen(pipe_id) + 3;
}

/* B: a context, and the probe that measures its prefix in the pipe. */
static void probe(void)
{
	long r;

	take_context(&pconn, pipe_id);
	drain(1, "B.drain", 0);
	ctx_on(&pconn);
	r = s_write(1, "B.probe", mkline(pipe_id, 40), 40);
	H = pipe_bytes() - r;
	drain(1, "B.drain", 0);
}

static void pipe_mode(void)
{
	char lbl[64], *s;
	static char big[16384];
	long c = N / 2;

	stderr_pipe(1);
	N = (long)strlen(pipe_id) + 3;
	c = N / 2;

	/* A: no context exists yet: the agent passes everything through */
	s_write(1, "A.empty-100", mkline("noctx A1", 100), 100);
	s_write(1, "A.no-room-4000", mkline("noctx A2", 4000), 4000);
	s_write(1, "A.exact-3996", mkline("noctx A3", 3996), 3996);
	s_write(1, "A.full-10", mkline("noctx A4", 10), 10);
	drain(1, "A.drain1000", 1000);
	s_write(1, "A.partly-drained-10", mkline("noctx A5", 10), 10);
	s_fprintf(1, "A.partly-drained-fprintf", mkline("noctx A6", 40));
	drain(1, "A.drain", 0);

	probe();

	/* C: the pipe is full, then partly drained (a one-page pipe takes
	 * nothing more until it is empty) */
	fill("C.fill-4096", 4096);
	ctx_on(&pconn);
	s_write(1, "C.ctx-write", mkline(pipe_id, 50), 50);
	snprintf(big, sizeof big, "%s C2 one\n%s C2 two\n%s C2 three\n", pipe_id, pipe_id, pipe_id);
	s_write(1, "C.ctx-write-3lines", big, strlen(big));
	s_writev(1, "C.ctx-writev", mkline(pipe_id, 300), 300);
	s_fprintf(1, "C.ctx-fprintf", mkline(pipe_id, 60));
	s_fputs(1, "C.ctx-fputs", mkline(pipe_id, 60));
	s_fwrite(1, "C.ctx-fwrite", mkline(pipe_id, 60));
	s_fputc(1, "C.ctx-fputc-newline", '\n');
	s_dprintf(1, "C.ctx-dprintf", mkline(pipe_id, 60));
	s_write(1, "C.ctx-write-5000", mkline(pipe_id, 5000), 5000);
	s_write(1, "C.ctx-write-4096", mkline(pipe_id, 4096), 4096);
	ctx_off();
	s_write(1, "C.noctx-write", mkline("noctx C", 50), 50);
	s_fprintf(1, "C.noctx-fprintf", mkline("noctx C", 50));
	drain(1, "C.drain1000", 1000);
	ctx_on(&pconn);
	s_write(1, "C.partly-drained-ctx-write", mkline(pipe_id, 20), 20);
	s_fprintf(1, "C.partly-drained-ctx-fprintf", mkline(pipe_id, 30));
	s_write(1, "C.partly-drained-ctx-write-5000", mkline(pipe_id, 5000), 5000);
	ctx_off();
	s_write(1, "C.partly-drained-noctx-write", mkline("noctx C", 10), 10);
	drain(1, "C.drain", 0);

	/* D: room for everything, prefixes included */
	ctx_on(&pconn);
	s_write(1, "D.ctx-write", mkline(pipe_id, 60), 60);
	snprintf(big, sizeof big, "%s D2 one\n%s D2 two\n\n%s D2 four\n", pipe_id, pipe_id, pipe_id);
	s_write(1, "D.ctx-write-4lines", big, strlen(big));
	s_writev(1, "D.ctx-writev", mkline(pipe_id, 200), 200);
	s_fprintf(1, "D.ctx-fprintf", mkline(pipe_id, 70));
	s_fputs(1, "D.ctx-fputs", mkline(pipe_id, 70));
	s_fwrite(1, "D.ctx-fwrite", mkline(pipe_id, 70));
	s = mkline(pipe_id, 30);
	for (int i = 0; i < 30; i++) {
		snprintf(lbl, sizeof lbl, "D.ctx-fputc-%d", i);
		s_fputc(1, lbl, (unsigned char)s[i]);
	}
	ctx_off();
	s_write(1, "D.noctx-write", mkline("noctx D", 60), 60);
	s_fputs(1, "D.noctx-fputs", mkline("noctx D", 60));
	ctx_on(&pconn);
	s_dprintf(1, "D.ctx-dprintf", mkline(pipe_id, 60));
	drain(1, "D.drain", 0);

	/* E: the kernel takes part of a line. A level L without the agent is
	 * L - H per prefix in the part taken with it. 5000 = 904 + 4096: with
	 * room for 904 bytes the pipe merges them into its page and then has
	 * no page for the rest. */
	{
		long lv[3];

		lv[0] = 3092 - H; lv[1] = -1;
		memcpy(big, mkline(pipe_id, 5000), 5001);
		staged(1, "E1.ctx-write-5000", s_write, 1, big, 5000, lv, 2, 1);
		staged(1, "E2.ctx-writev-5000", s_writev, 1, big, 5000, lv, 2, 1);

		/* two lines, both prefixes in the part taken */
		memcpy(big, mkline(pipe_id, 100), 100);
		memcpy(big + 100, mkline(pipe_id, 4900), 4901);
		lv[0] = 3092 - 2 * H;
		staged(1, "E3.ctx-write-2lines", s_write, 1, big, 5000, lv, 2, 1);

		lv[0] = 3092;
		memcpy(big, mkline("noctx E4", 5000), 5001);
		staged(1, "E4.noctx-write-5000", s_write, 0, big, 5000, lv, 2, 1);

		/* no room for the 904 at first, then room */
		lv[0] = 3193 - H; lv[1] = 3092 - H; lv[2] = -1;
		memcpy(big, mkline(pipe_id, 5000), 5001);
		staged(1, "E5.ctx-write-5000-late", s_write, 1, big, 5000, lv, 3, 1);

		/* room for half the prefix only (the agent must not count it,
		 * and must finish the prefix before anything else) */
		lv[0] = 4097 - c - H; lv[1] = -1;
		memcpy(big, mkline(pipe_id, (size_t)(4096 + c - N)), (size_t)(4096 + c - N) + 1);
		staged(1, "E6.ctx-write-prefix-cut", s_write, 1, big, (size_t)(4096 + c - N), lv, 2, 1);
		staged(1, "E6b.ctx-writev-prefix-cut", s_writev, 1, big, (size_t)(4096 + c - N), lv, 2, 1);

		/* room for exactly the prefix */
		lv[0] = 4096 - H;
		memcpy(big, mkline(pipe_id, 4096), 4097);
		staged(1, "E7.ctx-write-prefix-only", s_write, 1, big, 4096, lv, 2, 1);

		/* room for the prefix and one byte */
		lv[0] = 4095 - H;
		memcpy(big, mkline(pipe_id, 4097), 4098);
		staged(1, "E8.ctx-write-prefix-and-1", s_write, 1, big, 4097, lv, 2, 1);
	}

	/* F, not compared (the return values differ by design), only the
	 * bytes are checked: the cut falls in the second line's prefix; an
	 * unfinished line while the pipe is full (the agent holds it: "as a
	 * larger pipe would") */
	{
		long lv[3] = { 0, -1, -1 };
		long a = 10 + N - c;

		memcpy(big, mkline(pipe_id, (size_t)a), (size_t)a);
		memcpy(big + a, mkline(pipe_id, (size_t)(4106 - a)), (size_t)(4106 - a) + 1);
		lv[0] = 4096 - (10 + 2 * H);
		staged(0, "F1.ctx-write-second-prefix-cut", s_write, 1, big, 4106, lv, 3, 1);

		drain(0, "F2.drain", 0);
		fill("F2.fill", 4096);
		snprintf(big, sizeof big, "%s F2 unfinished line", pipe_id);
		lv[0] = -1; lv[1] = -1; lv[2] = -1;
		staged(0, "F2.ctx-write-unfinished", s_write, 1, big, strlen(big), lv, 3, 0);
		ctx_on(&pconn);
		lv[0] = -1;
		staged(0, "F2.ctx-write-newline", s_write, 1, "\n", 1, lv, 3, 0);
	}
	drain(1, "end.drain", 0);
	save_steps("pipe");
}

/* ---- closed ------------------------------------------------------------------------- */

static void closed_steps(const char *ph, int ctx)
{
	char lbl[64], *s;
	static char big[100001];

#define L(x) (snprintf(lbl, sizeof lbl, "%s.%s", ph, x), lbl)
	set_ctx(ctx);
	s_write(1, L("write"), mkline(ctx ? pipe_id : "noctx", 50), 50);
	snprintf(big, sizeof big, "%s one\n%s two\n", pipe_id, pipe_id);
	s_write(1, L("write-2lines"), big, strlen(big));
	s_writev(1, L("writev"), mkline(pipe_id, 80), 80);
	s_fprintf(1, L("fprintf"), mkline(pipe_id, 60));
	s_fprintf(1, L("fprintf-2000"), mkline(pipe_id, 2000));
	s_fputs(1, L("fputs"), mkline(pipe_id, 60));
	s_fwrite(1, L("fwrite"), mkline(pipe_id, 60));
	s_fputc(1, L("fputc-newline"), '\n');
	s_dprintf(1, L("dprintf"), mkline(pipe_id, 60));
	s = mkline(pipe_id, 100000);
	memcpy(big, s, 100001);
	s_write(1, L("write-100000"), big, 100000);
	errno = 0;
	perror("closed perror");
	record(1, L("perror"), 0, errno);
	errno = 0;
	record(1, L("fflush"), fflush(stderr), errno);
#undef L
}

static void closed_mode(void)
{
	int status;

	N = (long)strlen(pipe_id) + 3;
	take_context(&pconn, pipe_id);
	if (close(2) != 0)
		die("close(2)");
	closed_steps("ctx", 1);
	closed_steps("noctx", 0);
	closed_steps("ctx-again", 1);
	status = 10 + steps_failed;      /* all compared so far */
	/* not compared: an unfinished line (the agent may hold it, "as a
	 * larger pipe would"), then its end */
	ctx_on(&pconn);
	s_write(0, "doc.unfinished", "pipe-ctx-7d1 unfinished", 23);
	s_write(0, "doc.newline", "\n", 1);
	/* fd 2 is free: the files must not take it */
	if (open("/dev/null", O_WRONLY) != 2)
		die("/dev/null as fd 2");
	save_steps("closed");
	exit(status);
}

/* ---- eintr -------------------------------------------------------------------------- */

static volatile sig_atomic_t eintr_signals;

static void on_eintr_alarm(int sig)
{
	(void)sig;
	eintr_signals++;
}

/* SIGALRM after 100 ms, then every 1500 ms until disarmed. */
static void arm(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	it.it_value.tv_usec = 100000;
	it.it_interval.tv_sec = 1;
	it.it_interval.tv_usec = 500000;
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		die("setitimer");
}

static void disarm(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* A step that blocks: the timer ends it. */
#define BLOCKED(call) do { arm(); call; disarm(); } while (0)

static void eintr_mode(void)
{
	struct sigaction sa;
	static char big[16384];
	long c, r;
	size_t n;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_eintr_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;              /* no SA_RESTART */
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		die("sigaction");
	timed = 1;
	stderr_pipe(0);
	c = N / 2;
	probe();

	/* the pipe is full: nothing is taken, the signal ends the wait */
	fill("fill", 4096);
	ctx_on(&pconn);
	BLOCKED(s_write(1, "full.ctx-write", mkline(pipe_id, 50), 50));
	snprintf(big, sizeof big, "%s two\n%s lines\n", pipe_id, pipe_id);
	BLOCKED(s_write(1, "full.ctx-write-2lines", big, strlen(big)));
	BLOCKED(s_writev(1, "full.ctx-writev", mkline(pipe_id, 300), 300));
	BLOCKED(s_fprintf(1, "full.ctx-fprintf", mkline(pipe_id, 60)));
	BLOCKED(s_fputs(1, "full.ctx-fputs", mkline(pipe_id, 60)));
	BLOCKED(s_fwrite(1, "full.ctx-fwrite", mkline(pipe_id, 60)));
	BLOCKED(s_fputc(1, "full.ctx-fputc-newline", '\n'));
	BLOCKED(s_dprintf(1, "full.ctx-dprintf", mkline(pipe_id, 60)));
	BLOCKED(s_write(1, "full.ctx-write-5000", mkline(pipe_id, 5000), 5000));
	ctx_off();
	BLOCKED(s_write(1, "full.noctx-write", mkline("noctx", 50), 50));
	drain(1, "drain", 0);

	/* part of a line is taken, then the signal: the count of what went */
	memcpy(big, mkline(pipe_id, 5000), 5001);
	fill("fill", 3092 - H);
	ctx_on(&pconn);
	BLOCKED(r = s_write(1, "part.ctx-write-5000", big, 5000));
	drain(1, "drain", 0);
	ctx_on(&pconn);
	if (r > 0)
		s_write(1, "part.ctx-write-rest", big + r, 5000 - (size_t)r);

	memcpy(big, mkline("noctx part", 5000), 5001);
	drain(1, "drain", 0);
	fill("fill", 3092);
	ctx_off();
	BLOCKED(r = s_write(1, "part.noctx-write-5000", big, 5000));
	drain(1, "drain", 0);
	ctx_off();
	if (r > 0)
		s_write(1, "part.noctx-write-rest", big + r, 5000 - (size_t)r);

	/* room for half the prefix: none of the program's bytes go, so the
	 * signal must end the call with EINTR, as it does without the agent */
	n = (size_t)(4096 + c - N);
	memcpy(big, mkline(pipe_id, n), n + 1);
	drain(1, "drain", 0);
	fill("fill", 4097 - c - H);
	ctx_on(&pconn);
	BLOCKED(r = s_write(1, "cut.ctx-write-prefix-cut", big, n));
	drain(1, "drain", 0);
	ctx_on(&pconn);
	if (r < (long)n)
		s_write(1, "cut.ctx-write-rest", big + (r > 0 ? r : 0), n - (size_t)(r > 0 ? r : 0));

	/* room for exactly the prefix */
	memcpy(big, mkline(pipe_id, 4096), 4097);
	drain(1, "drain", 0);
	fill("fill", 4096 - H);
	ctx_on(&pconn);
	BLOCKED(r = s_write(1, "cut.ctx-write-prefix-only", big, 4096));
	drain(1, "drain", 0);
	ctx_on(&pconn);
	if (r < 4096)
		s_write(1, "cut.ctx-write-prefix-only-rest", big + (r > 0 ? r : 0),
			4096 - (size_t)(r > 0 ? r : 0));
	drain(1, "end.drain", 0);
	save_steps("eintr");
}

/* ---- fork ---------------------------------------------------------------------------- */

static void *hammer_main(void *arg)
{
	struct wthr *t = arg;

	take_context(&t->conn[0], t->id[0]);
	t->cur = 0;
	pthread_barrier_wait(&start_barrier);
	for (long i = 0; !__atomic_load_n(&stop_writers, __ATOMIC_RELAXED); i++) {
		size_t n = make_line(t, i, 0), w = below(&t->rng, 5);

		buf_add(&t->exp, t->line, n);
		/* complete lines, one call each: a fork flushes what a thread
		 * holds, so a line in pieces could be cut by a child's line.
		 * Thread 1 writes mostly 1-3.3 KiB lines with fprintf, which
		 * libc formats through a stream of its own. */
		if (t->medium && n < PIECE_MAX && below(&t->rng, 10) < 8)
			x_fprintf(t->line, n);
		else if (w == 0)
			x_write(t->line, n);
		else if (w == 1)
			x_writev(&t->rng, t->line, n);
		else if (w == 2 && n < PIECE_MAX)
			x_fprintf(t->line, n);
		else if (w == 3)
			x_fputs(t->line, n);
		else
			x_fwrite(t->line, n);
		t->written++;
	}
	return NULL;
}

static void proc_note(struct buf *b, pid_t pid, const char *what)
{
	char path[128], data[512];
	int fd;
	ssize_t r;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	r = read(fd, data, sizeof data - 1);
	close(fd);
	if (r < 0)
		r = 0;
	data[r] = '\0';
	for (ssize_t i = 0; i < r; i++)
		if (data[i] == '\n')
			data[i] = ' ';
	buf_printf(b, "  %s: %.400s\n", what, data);
}

static void fork_mode(int forks)
{
	pthread_t th[2];
	struct wthr *ts = make_writers(2, "fork", 3);
	struct conn mc;
	struct buf hung = { 0 }, res = { 0 };
	int ok = 0, nhung = 0, bad = 0;
	double maxms = 0;

	ts[1].medium = 1;
	take_context(&mc, "fork-main");
	if (pthread_barrier_init(&start_barrier, NULL, 3) != 0)
		die("pthread_barrier_init");
	for (int k = 0; k < 2; k++)
		if (pthread_create(&th[k], NULL, hammer_main, &ts[k]) != 0)
			die("pthread_create");
	pthread_barrier_wait(&start_barrier);
	for (int i = 0; i < forks; i++) {
		double t0;
		pid_t pid;
		int st = 0;

		ctx_on(&mc);
		t0 = now_ms();
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char line[128];
			int n;

			fprintf(stderr, "fork-main child %d fprintf pid %d\n", i, (int)getpid());
			n = snprintf(line, sizeof line, "fork-main child %d write\n", i);
			if (write(2, line, (size_t)n) != n)
				_exit(3);
			if (i % 2)
				exit(0);
			_exit(0);
		}
		for (;;) {
			pid_t w = waitpid(pid, &st, WNOHANG);
			struct timespec ms = { 0, 1000000 };

			if (w == pid)
				break;
			if (w < 0)
				die("waitpid");
			if (now_ms() - t0 > 5000) {
				char name[64];

				buf_printf(&hung, "fork %d: child %d still running after 5 s\n", i, (int)pid);
				proc_note(&hung, pid, "stat");
				proc_note(&hung, pid, "wchan");
				proc_note(&hung, pid, "syscall");
				snprintf(name, sizeof name, "task/%d/stack", (int)pid);
				proc_note(&hung, pid, name);
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				nhung++;
				st = -1;
				break;
			}
			nanosleep(&ms, NULL);
		}
		if (now_ms() - t0 > maxms)
			maxms = now_ms() - t0;
		if (st == 0)
			ok++;
		else if (st != -1)
			bad++;
	}
	__atomic_store_n(&stop_writers, 1, __ATOMIC_RELAXED);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	save_writers(ts, 2);
	buf_printf(&res, "forks %d ok %d hung %d bad %d maxms %.0f lines %ld %ld\n", forks, ok,
		   nhung, bad, maxms, ts[0].written, ts[1].written);
	write_file("fork.result", res.p, res.len);
	write_file("fork.hung", hung.p ? hung.p : "", hung.len);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: torture OUTDIR stream THREADS LINES SEED\n"
			"       torture OUTDIR signals THREADS MSECS INTERVAL_US\n"
			"       torture OUTDIR pipe|closed|eintr\n"
			"       torture OUTDIR fork FORKS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 3)
		usage();
	outdir = argv[1];
	mode = argv[2];
	diag_fd = fcntl(2, F_DUPFD_CLOEXEC, 20);
	if (strcmp(mode, "stream") == 0 && argc == 6) {
		int n = atoi(argv[3]);

		if (n < 1 || n > MAX_THREADS)
			usage();
		run_stream(n, atol(argv[4]), strtoull(argv[5], NULL, 0));
	} else if (strcmp(mode, "signals") == 0 && argc == 6) {
		int n = atoi(argv[3]);

		if (n < 1 || n > MAX_THREADS)
			usage();
		run_signals(n, atol(argv[4]), atol(argv[5]));
	} else if (strcmp(mode, "pipe") == 0 && argc == 3) {
		pipe_mode();
	} else if (strcmp(mode, "closed") == 0 && argc == 3) {
		closed_mode();
	} else if (strcmp(mode, "eintr") == 0 && argc == 3) {
		eintr_mode();
	} else if (strcmp(mode, "fork") == 0 && argc == 4) {
		fork_mode(atoi(argv[3]));
	} else {
		usage();
	}
	return 0;
}
