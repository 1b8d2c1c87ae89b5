/*
 * lines - writes lines to stderr in every awkward way a program can, for
 * the test of the agent's line rules (tests/integration/t_lines).
 *
 *   lines OUTDIR pieces
 *   lines OUTDIR multiline
 *   lines OUTDIR threads N LINES
 *   lines OUTDIR big
 *   lines OUTDIR nocontext
 *
 * Every worker thread first gets a request context the way a server does:
 * it opens its own loopback listener, connects to it, sends
 *   GET /<ID> HTTP/1.1\r\nX-Request-Id: <ID>\r\n\r\n
 * accepts the connection and reads the request on the accepted fd, which
 * makes <ID> its current context. It then writes its lines; every line it
 * writes in context begins with "<ID> " (or is empty) so that the checker
 * can tell which thread a line came from without trusting the prefix.
 *
 * Each thread k records exactly the bytes it wrote to stderr and stores them
 * in OUTDIR/T<k>.expected, with its ID in OUTDIR/T<k>.id (plain file fds,
 * which the agent does not tag). The main thread never has a context; what
 * it writes (and, in nocontext mode, what its helper thread writes) goes to
 * OUTDIR/main.expected.
 *
 * No worker blocks in read/poll/sleep while it holds a partial line: a
 * thread that blocks may have its partial line flushed, and these modes
 * check that lines written in pieces come out whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target.h"

#define MAX_THREADS 256
#define ID_MAX 128

struct thr {
	int k;
	char id[ID_MAX + 1];
	size_t idlen;
	uint64_t rng;
	char *exp;                  /* bytes written to stderr, in order */
	size_t len, cap;
	int fds[3];                 /* listener, client, accepted */
	long lines;                 /* threads mode: lines to write */
	void (*work)(struct thr *);
};

static const char *outdir;
static pthread_barrier_t start_barrier;
static struct thr main_thr;

static uint64_t rnd(struct thr *t)
{
	/* xorshift64*: deterministic per thread, so a failure reproduces. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static size_t rnd_below(struct thr *t, size_t n)
{
	return n ? (size_t)(rnd(t) % n) : 0;
}

static void spin(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

/* ---- recording what was written ---------------------------------------- */

static void rec(struct thr *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;

		while (cap < t->len + n)
			cap *= 2;
		t->exp = realloc(t->exp, cap);
		if (t->exp == NULL)
			die("realloc");
		t->cap = cap;
	}
	memcpy(t->exp + t->len, p, n);
	t->len += n;
}

static void write_file(const char *name, const void *p, size_t n)
{
	write_file_in(outdir, name, p, n);
}

static void save(struct thr *t, const char *name)
{
	char f[64];

	if (name == NULL) {
		snprintf(f, sizeof f, "T%d.expected", t->k);
		write_file(f, t->exp, t->len);
		snprintf(f, sizeof f, "T%d.id", t->k);
		write_file(f, t->id, t->idlen);
	} else {
		write_file(name, t->exp, t->len);
	}
}

/* ---- the ways of writing to stderr --------------------------------------- */

static void w_write(struct thr *t, const void *p, size_t n)
{
	const char *c = p;

	rec(t, p, n);
	while (n > 0) {
		ssize_t w = write(2, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write(2)");
		}
		c += w;
		n -= (size_t)w;
	}
}

static void w_str(struct thr *t, const char *s)
{
	w_write(t, s, strlen(s));
}

/* writev with the bytes split into up to three iovecs (some may be empty). */
static void w_writev(struct thr *t, const void *p, size_t n)
{
	const char *c = p;
	size_t a = rnd_below(t, n + 1), b = a + rnd_below(t, n - a + 1);
	struct iovec iov[3] = {
		{ (void *)c, a }, { (void *)(c + a), b - a }, { (void *)(c + b), n - b },
	};
	ssize_t w;

	rec(t, p, n);
	do
		w = writev(2, iov, 3);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		die("writev(2)");
	/* A short writev: finish with write (not expected on a file or pipe). */
	c += w;
	n -= (size_t)w;
	while (n > 0) {
		w = write(2, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write(2)");
		}
		c += w;
		n -= (size_t)w;
	}
}

static void w_fprintf(struct thr *t, const void *p, size_t n)
{
	rec(t, p, n);
	fprintf(stderr, "%.*s", (int)n, (const char *)p);
}

static void w_fputc(struct thr *t, const void *p, size_t n)
{
	const unsigned char *c = p;

	rec(t, p, n);
	for (size_t i = 0; i < n; i++)
		fputc(c[i], stderr);
}

static void w_fwrite(struct thr *t, const void *p, size_t n)
{
	rec(t, p, n);
	if (fwrite(p, 1, n, stderr) != n)
		die("fwrite(stderr)");
}

static void w_fputs(struct thr *t, const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		die("malloc");
	memcpy(s, p, n);
	s[n] = '\0';
	rec(t, p, n);
	fputs(s, stderr);
	free(s);
}

static void w_putc(struct thr *t, const void *p, size_t n)
{
	const unsigned char *c = p;

	rec(t, p, n);
	for (size_t i = 0; i < n; i++)
		putc(c[i], stderr);
}

/* One byte at a time with write(2). */
static void w_bytes(struct thr *t, const void *p, size_t n)
{
	const char *c = p;

	for (size_t i = 0; i < n; i++)
		w_write(t, c + i, 1);
}

/* printf-style: recorded with vsnprintf, written with vfprintf. */
__attribute__((format(printf, 2, 3)))
static void w_vfprintf(struct thr *t, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		die("w_vfprintf: too long");
	rec(t, buf, (size_t)n);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* fprintf with real arguments; the same text is recorded with snprintf. */
#define W_FPRINTF(t, ...) do {                                               \
		char b_[8192];                                               \
		int n_ = snprintf(b_, sizeof b_, __VA_ARGS__);               \
		if (n_ < 0 || (size_t)n_ >= sizeof b_)                       \
			die("W_FPRINTF: too long");                          \
		rec((t), b_, (size_t)n_);                                    \
		fprintf(stderr, __VA_ARGS__);                                \
	} while (0)

/* perror(s) writes "s: <strerror>\n". */
static void w_perror(struct thr *t, const char *s, int err)
{
	const char *m = strerror(err);

	rec(t, s, strlen(s));
	rec(t, ": ", 2);
	rec(t, m, strlen(m));
	rec(t, "\n", 1);
	errno = err;
	perror(s);
}

typedef void (*writer)(struct thr *, const void *, size_t);

/* A string literal and its length, NULs included. */
#define LIT(s) (s), sizeof(s) - 1

/* ---- getting a context --------------------------------------------------- */

static void take_context(struct thr *t)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	char req[512], buf[1024];
	size_t got = 0;
	int n;

	t->fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fds[0] < 0)
		die("socket");
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(t->fds[0], (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(t->fds[0], 4) < 0 ||
	    getsockname(t->fds[0], (struct sockaddr *)&a, &alen) < 0)
		die("listener");
	t->fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fds[1] < 0 || connect(t->fds[1], (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	n = snprintf(req, sizeof req,
		     "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: %s\r\n\r\n",
		     t->id, t->id);
	if (send(t->fds[1], req, (size_t)n, MSG_NOSIGNAL) != n)
		die("send");
	t->fds[2] = accept(t->fds[0], NULL, NULL);
	if (t->fds[2] < 0)
		die("accept");
	/* The head was sent in one piece before the accept: one read gets it. */
	while (got < (size_t)n) {
		ssize_t r = read(t->fds[2], buf + got, sizeof buf - got);

		if (r <= 0)
			die("read request");
		got += (size_t)r;
	}
}

static void drop_context(struct thr *t)
{
	for (int i = 2; i >= 0; i--)
		close(t->fds[i]);
}

/* ---- pieces: one line at a time, written in pieces ----------------------- */

static void work_pieces(struct thr *t)
{
	for (int i = 0; i < 200; i++) {
		char buf[256];
		int n;

		/* text, then "\n" on its own */
		n = snprintf(buf, sizeof buf, "%s %d write text then newline", t->id, i);
		w_write(t, buf, (size_t)n);
		spin(2000);
		w_str(t, "\n");

		/* fprintf fragments */
		W_FPRINTF(t, "%s %d ", t->id, i);
		spin(1000);
		W_FPRINTF(t, "fprintf fragment %d", i * 7);
		spin(1000);
		W_FPRINTF(t, " and %s", "more");
		W_FPRINTF(t, "\n");

		/* vfprintf, as logging wrappers use it, in two calls */
		w_vfprintf(t, "%s %d vfprintf %s", t->id, i, "first half");
		spin(1000);
		w_vfprintf(t, ", second half %d\n", i);

		/* one byte at a time: fputc, putc, write */
		n = snprintf(buf, sizeof buf, "%s %d byte by byte with fputc\n", t->id, i);
		w_fputc(t, buf, (size_t)n);
		n = snprintf(buf, sizeof buf, "%s %d byte by byte with putc\n", t->id, i);
		w_putc(t, buf, (size_t)n);
		n = snprintf(buf, sizeof buf, "%s %d byte by byte with write\n", t->id, i);
		w_bytes(t, buf, (size_t)n);

		/* one line through every function in turn */
		n = snprintf(buf, sizeof buf, "%s %d ", t->id, i);
		w_write(t, buf, (size_t)n);
		w_fputc(t, LIT("m"));
		w_fprintf(t, LIT("ixed "));
		w_fputs(t, LIT("write"));
		w_writev(t, LIT("/fputc/fprintf"));
		w_fwrite(t, LIT("/fputs/fwrite"));
		w_putc(t, LIT("\n"));

		/* fputs text, then fputs "\n" */
		n = snprintf(buf, sizeof buf, "%s %d fputs then newline", t->id, i);
		w_fputs(t, buf, (size_t)n);
		spin(1000);
		w_fputs(t, LIT("\n"));

		/* perror: a complete line from one call */
		n = snprintf(buf, sizeof buf, "%s %d perror", t->id, i);
		w_perror(t, buf, ENOENT);
	}
}

/* ---- multiline: several lines per call ----------------------------------- */

static void work_multiline(struct thr *t)
{
	const char *id = t->id;

	for (int i = 0; i < 100; i++) {
		char buf[2048];
		int n;

		n = snprintf(buf, sizeof buf, "%s %d a\n%s %d b\n%s %d c\n", id, i, id, i, id, i);
		w_write(t, buf, (size_t)n);

		/* writev whose iovecs do not follow the line ends */
		n = snprintf(buf, sizeof buf, "%s %d x\n%s %d y-partial\n%s %d z\n",
			     id, i, id, i, id, i);
		w_writev(t, buf, (size_t)n);

		W_FPRINTF(t, "%s %d one\n%s %d two\n%s %d three\n", id, i, id, i, id, i);

		/* a write that ends mid-line, then the rest and another line */
		n = snprintf(buf, sizeof buf, "%s %d begun in one write", id, i);
		w_write(t, buf, (size_t)n);
		spin(2000);
		n = snprintf(buf, sizeof buf, ", ended in the next\n%s %d next line\n%s %d tail ",
			     id, i, id, i);
		w_write(t, buf, (size_t)n);
		spin(2000);
		w_str(t, "done\n");

		/* an empty line between two lines */
		n = snprintf(buf, sizeof buf, "%s %d before empty\n\n%s %d after empty\n",
			     id, i, id, i);
		w_write(t, buf, (size_t)n);

		n = snprintf(buf, sizeof buf, "%s %d fwrite 1\n%s %d fwrite 2\n", id, i, id, i);
		w_fwrite(t, buf, (size_t)n);

		n = snprintf(buf, sizeof buf, "%s %d fputs 1\n%s %d fputs 2\n", id, i, id, i);
		w_fputs(t, buf, (size_t)n);
	}
	/* 1000 lines in one write */
	{
		size_t cap = 1000 * (t->idlen + 32), n = 0;
		char *big = malloc(cap);

		if (big == NULL)
			die("malloc");
		for (int j = 0; j < 1000; j++)
			n += (size_t)snprintf(big + n, cap - n, "%s bulk %d\n", id, j);
		w_write(t, big, n);
		free(big);
	}
}

/* ---- threads: random lines in random pieces ------------------------------ */

static const char line_chars[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t";

static void work_threads(struct thr *t)
{
	static const writer ways[] = {
		w_write, w_writev, w_fprintf, w_fputc, w_fwrite, w_fputs, w_putc,
	};
	char *s;
	size_t cap = 4096, n = 0, off = 0;

	/* The whole stream first: "<ID> <line no> <random text>\n" each, at
	 * most ~3.2 KiB: a line written in pieces stays within the 4 KiB the
	 * agent holds per thread (longer ones are the big mode's business). */
	s = malloc(cap);
	if (s == NULL)
		die("malloc");
	for (long i = 0; i < t->lines; i++) {
		size_t r = rnd_below(t, 100), len;

		len = r < 5 ? rnd_below(t, 3000) : r < 15 ? 0 : rnd_below(t, 120);
		while (n + t->idlen + len + 64 > cap) {
			cap *= 2;
			s = realloc(s, cap);
			if (s == NULL)
				die("realloc");
		}
		n += (size_t)snprintf(s + n, cap - n, "%s %ld ", t->id, i);
		for (size_t j = 0; j < len; j++) {
			size_t c = rnd_below(t, 200);

			/* mostly printable ASCII; now and then CR or a control byte,
			 * never at the end of the line */
			if (c == 0 && j + 1 < len)
				s[n++] = '\r';
			else if (c == 1 && j + 1 < len)
				s[n++] = '\x01';
			else
				s[n++] = line_chars[rnd_below(t, sizeof line_chars - 1)];
		}
		s[n++] = '\n';
	}
	/* ... then cut at random places, ignoring line ends: pieces are
	 * partial lines, whole lines, several lines and a bit. */
	while (off < n) {
		size_t r = rnd_below(t, 10), len;
		writer w;

		len = r < 4 ? 1 + rnd_below(t, 8) : r < 8 ? 1 + rnd_below(t, 100)
				: 1 + rnd_below(t, 2000);
		if (len > n - off)
			len = n - off;
		w = ways[rnd_below(t, sizeof ways / sizeof ways[0])];
		if ((w == w_fputc || w == w_putc) && len > 64)
			w = w_fwrite;
		w(t, s + off, len);
		off += len;
		if (rnd_below(t, 4) == 0)
			spin((unsigned)rnd_below(t, 3000));
	}
	free(s);
}

/* ---- big: 1 MiB lines, binary bytes -------------------------------------
 *
 * Phase 1, all three threads at once: 1 MiB lines each in ONE write, binary
 * lines in pieces, short lines. Phase 2: thread 0 alone writes a 1 MiB line
 * in 64 KiB fwrite pieces; phase 3: thread 1 alone writes a 1 MiB binary
 * line in three fwrite calls. A line longer than what the agent holds for a
 * thread (4 KiB) goes out in several writes when written in pieces, so
 * those are written while the other threads wait: the check is then that
 * the line comes out whole with one prefix, not that nothing can come
 * between its pieces.
 */

#define MIB (1024 * 1024)

static pthread_barrier_t phase_barrier;

static void next_phase(void)
{
	pthread_barrier_wait(&phase_barrier);
}

static void work_big_text(struct thr *t)
{
	size_t n = t->idlen + 1 + MIB;
	char *s = malloc(n + 1);

	if (s == NULL)
		die("malloc");
	memcpy(s, t->id, t->idlen);
	s[t->idlen] = ' ';
	s[n] = '\n';
	/* phase 1: four 1 MiB lines, each in one write */
	for (int k = 0; k < 4; k++) {
		for (size_t i = t->idlen + 1; i < n; i++)
			s[i] = line_chars[rnd_below(t, 62)];
		w_write(t, s, n + 1);
	}
	next_phase();
	/* phase 2: 1 MiB in 64 KiB fwrite pieces */
	for (size_t i = t->idlen + 1; i < n; i++)
		s[i] = line_chars[rnd_below(t, 62)];
	for (size_t off = 0; off < n + 1; off += 65536) {
		size_t len = n + 1 - off < 65536 ? n + 1 - off : 65536;

		w_fwrite(t, s + off, len);
	}
	next_phase();
	next_phase();
	free(s);
}

static void work_big_binary(struct thr *t)
{
	unsigned char buf[2048];
	size_t n;

	for (int i = 0; i < 50; i++) {
		/* every byte value but '\n', in order */
		n = (size_t)snprintf((char *)buf, sizeof buf, "%s %d all bytes ", t->id, i);
		for (int b = 0; b < 256; b++)
			if (b != '\n')
				buf[n++] = (unsigned char)b;
		buf[n++] = '\n';
		(i % 2 ? w_fwrite : w_write)(t, buf, n);

		/* NULs, CR, high bytes at random */
		n = (size_t)snprintf((char *)buf, sizeof buf, "%s %d random binary ", t->id, i);
		for (int j = 0; j < 500; j++) {
			unsigned char c;

			do
				c = (unsigned char)rnd(t);
			while (c == '\n');
			buf[n++] = c;
		}
		buf[n++] = '\n';
		(i % 2 ? w_write : w_fwrite)(t, buf, n);

		/* only NULs, then only high bytes, split in pieces */
		n = (size_t)snprintf((char *)buf, sizeof buf, "%s %d nuls ", t->id, i);
		memset(buf + n, 0, 64);
		n += 64;
		w_write(t, buf, n);
		w_writev(t, LIT("\0\0\0\n"));
		n = (size_t)snprintf((char *)buf, sizeof buf, "%s %d high ", t->id, i);
		for (int b = 0x80; b <= 0xff; b++)
			buf[n++] = (unsigned char)b;
		w_fwrite(t, buf, n);
		w_fputc(t, LIT("\xff\xfe\x80"));
		w_str(t, "\n");

		/* a CRLF line end: the CR is part of the line */
		n = (size_t)snprintf((char *)buf, sizeof buf, "%s %d crlf\r\n", t->id, i);
		w_write(t, buf, n);
	}
	next_phase();
	next_phase();
	/* phase 3: a 1 MiB binary line in 3 fwrite calls */
	{
		size_t len = t->idlen + 1 + MIB;
		unsigned char *s = malloc(len + 1);

		if (s == NULL)
			die("malloc");
		memcpy(s, t->id, t->idlen);
		s[t->idlen] = ' ';
		for (size_t i = t->idlen + 1; i < len; i++) {
			unsigned char c;

			do
				c = (unsigned char)rnd(t);
			while (c == '\n');
			s[i] = c;
		}
		s[len] = '\n';
		w_fwrite(t, s, 1000);
		w_fwrite(t, s + 1000, len / 2);
		w_fwrite(t, s + 1000 + len / 2, len + 1 - 1000 - len / 2);
		free(s);
	}
	next_phase();
}

static void work_big_small(struct thr *t)
{
	for (int i = 0; i < 3000; i++) {
		char buf[128];
		int n = snprintf(buf, sizeof buf, "%s %d small line among big ones\n", t->id, i);

		(i % 2 ? w_write : w_fprintf)(t, buf, (size_t)n);
		if (i % 16 == 0)
			spin(20000);
	}
	next_phase();
	next_phase();
	next_phase();
}

/* ---- nocontext: no thread ever has a context ----------------------------- */

static void *nocontext_helper(void *arg)
{
	struct thr *t = arg;

	w_str(t, "helper thread line, no context\n");
	W_FPRINTF(t, "helper %s %d\n", "fprintf", 2);
	w_bytes(t, LIT("helper byte by byte\n"));
	return NULL;
}

static void nocontext_lines(struct thr *t)
{
	pthread_t h;
	char *s;
	size_t n = 100000;

	w_str(t, "plain line without context\n");
	w_str(t, "[0123456789abcdef] looks like a prefix but is the program's own text\n");
	w_str(t, "[] empty brackets\n");
	w_str(t, "piece one, ");
	w_str(t, "piece two, ");
	w_str(t, "piece three\n");
	W_FPRINTF(t, "fprintf %d %s\n", 42, "x");
	w_vfprintf(t, "vfprintf %s\n", "y");
	w_fputc(t, LIT("fputc line\n"));
	w_putc(t, LIT("putc line\n"));
	w_fwrite(t, LIT("fwrite line\n"));
	w_fputs(t, LIT("fputs line\n"));
	w_writev(t, LIT("writev line 1\nwritev line 2\n"));
	w_str(t, "multi 1\nmulti 2\n\nmulti 4 after an empty line\n");
	w_bytes(t, LIT("byte by byte\n"));
	w_perror(t, "perror line", EACCES);
	w_write(t, LIT("binary \0\r\x80\xff\x01 end\n"));
	w_str(t, "\n");
	s = malloc(n);
	if (s == NULL)
		die("malloc");
	memset(s, 'z', n - 1);
	s[n - 1] = '\n';
	w_write(t, s, n);
	free(s);
	/* a thread created without context has none either; joined before
	 * anything else is written, so the stream stays in order */
	if (pthread_create(&h, NULL, nocontext_helper, t) != 0)
		die("pthread_create");
	pthread_join(h, NULL);
}

static void make_id(struct thr *t, const char *mode);

/* A thread that takes a context and ends without writing: afterwards the
 * process has had contexts, the main thread still has none. */
static void *context_then_exit(void *arg)
{
	struct thr *t = arg;

	take_context(t);
	drop_context(t);
	return NULL;
}

static void run_nocontext(struct thr *t)
{
	struct thr other;
	pthread_t h;

	/* before any context exists in the process */
	w_str(t, "pass 1: no context exists yet\n");
	nocontext_lines(t);
	memset(&other, 0, sizeof other);
	other.k = 0;
	make_id(&other, "nocontext");
	if (pthread_create(&h, NULL, context_then_exit, &other) != 0)
		die("pthread_create");
	pthread_join(h, NULL);
	/* again, now that another thread has had one */
	w_str(t, "pass 2: another thread has had a context\n");
	nocontext_lines(t);
	w_str(t, "last line without context\n");
}

/* ---- running the threads ------------------------------------------------- */

static void *thread_main(void *arg)
{
	struct thr *t = arg;

	take_context(t);
	pthread_barrier_wait(&start_barrier);
	t->work(t);
	save(t, NULL);
	drop_context(t);
	return NULL;
}

/* IDs use every character an ID may hold, and a long one. */
static void make_id(struct thr *t, const char *mode)
{
	switch (t->k % 4) {
	case 0:
		snprintf(t->id, sizeof t->id, "%s-%d", mode, t->k);
		break;
	case 1:
		snprintf(t->id, sizeof t->id, "T%d.a_b:c/d+e=f@g", t->k);
		break;
	case 2:
		snprintf(t->id, sizeof t->id, "%s%d", "Thread", t->k);
		break;
	default: {
		int n = snprintf(t->id, sizeof t->id, "long%d-", t->k);

		memset(t->id + n, 'L', ID_MAX - (size_t)n);
		t->id[ID_MAX] = '\0';
		break;
	}
	}
	t->idlen = strlen(t->id);
}

static void run_threads(const char *mode, int n, long lines,
			void (*const *work)(struct thr *), int nwork)
{
	pthread_t th[MAX_THREADS];
	struct thr *ts = calloc((size_t)n, sizeof *ts);

	if (ts == NULL)
		die("calloc");
	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)n) != 0)
		die("pthread_barrier_init");
	for (int k = 0; k < n; k++) {
		ts[k].k = k;
		ts[k].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1);
		ts[k].lines = lines;
		ts[k].work = work[k % nwork];
		make_id(&ts[k], mode);
		if (pthread_create(&th[k], NULL, thread_main, &ts[k]) != 0)
			die("pthread_create");
	}
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	for (int k = 0; k < n; k++)
		free(ts[k].exp);
	free(ts);
}

static void usage(void)
{
	fprintf(stderr, "usage: lines OUTDIR pieces|multiline|big|nocontext\n"
			"       lines OUTDIR threads N LINES\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 3)
		usage();
	outdir = argv[1];
	mode = argv[2];
	main_thr.k = -1;
	main_thr.rng = 1;

	if (strcmp(mode, "nocontext") == 0) {
		run_nocontext(&main_thr);
		save(&main_thr, "main.expected");
		return 0;
	}

	w_str(&main_thr, "main: start, no context\n");
	if (strcmp(mode, "pieces") == 0) {
		static void (*const w[])(struct thr *) = { work_pieces };

		run_threads(mode, 4, 0, w, 1);
	} else if (strcmp(mode, "multiline") == 0) {
		static void (*const w[])(struct thr *) = { work_multiline };

		run_threads(mode, 4, 0, w, 1);
	} else if (strcmp(mode, "big") == 0) {
		static void (*const w[])(struct thr *) = {
			work_big_text, work_big_binary, work_big_small,
		};

		if (pthread_barrier_init(&phase_barrier, NULL, 3) != 0)
			die("pthread_barrier_init");
		run_threads(mode, 3, 0, w, 3);
	} else if (strcmp(mode, "threads") == 0) {
		static void (*const w[])(struct thr *) = { work_threads };
		int n;
		long lines;

		if (argc != 5)
			usage();
		n = atoi(argv[3]);
		lines = atol(argv[4]);
		if (n < 1 || n > MAX_THREADS || lines < 0)
			usage();
		run_threads(mode, n, lines, w, 1);
	} else {
		usage();
	}
	W_FPRINTF(&main_thr, "main: %s done, no context\n", mode);
	save(&main_thr, "main.expected");
	return 0;
}
