/*
 * stdio.c - stdio on a log. Inside libc, fprintf and friends reach the
 * kernel through internal calls that no write() interposer sees, so each
 * printing function that can target stderr is interposed here: the text is
 * formatted by libc itself (into a stack buffer, or for long output into
 * the per-thread stream of agent/out_stream.c) and handed to the line
 * writer. Return values and the stream's error flag follow what libc would
 * give for an unbuffered stderr. The printing functions of stdout are
 * interposed too, only so that a line held for the same destination goes
 * out first; freopen and fopen report the fds they make.
 *
 * A stream is tagged when it is byte-oriented and its fd is a log (see
 * agent/out.h). Anything else goes straight to libc.
 */
#include <fcntl.h>
#include <limits.h>
#include <printf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>

#include "agent/format.h"
#include "agent/out_fd.h"
#include "agent/out_stream.h"
#include "agent/inherit.h"
#include "shims/shim.h"
#include "shims/stream.h"

#define STACK_FMT 1024

/* libc's fortified entry points, which its headers do not declare. */
extern int __vsnprintf_chk(char *, size_t, int, size_t, const char *, va_list);
int __fprintf_chk(FILE *, int, const char *, ...);
int __vfprintf_chk(FILE *, int, const char *, va_list);
int __printf_chk(int, const char *, ...);
int __vprintf_chk(int, const char *, va_list);
int __dprintf_chk(int, int, const char *, ...);
int __vdprintf_chk(int, int, const char *, va_list);
int _IO_putc(int, FILE *);
FILE *fopen64(const char *, const char *);
FILE *freopen64(const char *, const char *, FILE *);

/* Optimised builds of <stdio.h> turn some of these into macros. */
#undef fwrite_unlocked
#undef fputc_unlocked
#undef putc_unlocked
#undef putc
#undef putchar
#undef putchar_unlocked

static size_t put_bytes(FILE *f, int fd, const void *p, size_t n);

/*
 * A tagged stream with a buffer of its own (full or line buffering: stdout
 * on a file or a pipe, a log opened with fopen, stderr after setvbuf or
 * freopen) keeps it: its lines get their heads as they go into the buffer,
 * the current context's, and libc writes them when it would have (a full
 * buffer, a newline on a line-buffered stream, fflush, exit), by its own
 * internal calls. So the bytes reach the file in the order, the pieces
 * and the system calls the program's own stdio makes: a direct write
 * between two buffered lines goes first, _exit drops what is buffered, a
 * fork copies it. Before, each call went out at once through the line
 * writer (a trial: a fully buffered stderr's three lines came out ahead of
 * a write made after them; a line _exit should have dropped was written).
 * Text output only: a JSON object is made by the line writer, which an
 * unbuffered stream (stderr's default) goes through as before.
 */
/* glibc's flag for an unbuffered stream (libio.h, _IO_UNBUFFERED; part of
 * the FILE layout the other fields used here belong to). */
#define STREAM_UNBUFFERED 0x0002

static bool stream_keeps(const FILE *f)
{
	return f != NULL && !(f->_flags & STREAM_UNBUFFERED) && out_stdio_heads();
}

/*
 * What the agent put into each kept stream last: where its bytes ended in
 * the buffer (`seen`, with the buffer's start then, `base`) and whether
 * they ended inside a line (`mid`). Bytes past `seen` were put by calls
 * the agent does not see (putc_unlocked inlined by the compiler: GNU
 * coreutils' literal text); a line they begin gets its head when the
 * agent next puts bytes into the stream. Marks for 64 streams, found by
 * address (without one, the buffer's last byte tells whether a line is
 * open, and an empty buffer counts as a line's start: a 65th stream
 * flushed in the middle of a line gets a second head there); read and
 * written under the stream's lock.
 */
#define STREAM_MARKS 64
#define UNSEEN_MAX 4096
struct stream_mark {
	FILE *f;
	char *base, *seen;
	pid_t tid;                /* the thread that put the agent's bytes */
	bool mid;
};
static struct stream_mark marks[STREAM_MARKS];
static int marks_used;           /* a mark was ever claimed: fclose looks */

static struct stream_mark *mark_find(const FILE *f, bool claim)
{
	if (!claim && !__atomic_load_n(&marks_used, __ATOMIC_RELAXED))
		return NULL;
	if (claim && !__atomic_load_n(&marks_used, __ATOMIC_RELAXED))
		__atomic_store_n(&marks_used, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < STREAM_MARKS; i++)
		if (__atomic_load_n(&marks[i].f, __ATOMIC_ACQUIRE) == f)
			return &marks[i];
	for (int i = 0; claim && i < STREAM_MARKS; i++) {
		FILE *none = NULL;

		if (__atomic_compare_exchange_n(&marks[i].f, &none, (FILE *)f, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			marks[i].base = marks[i].seen = NULL;
			marks[i].mid = false;
			return &marks[i];
		}
	}
	return NULL;
}

static int stream_fd(FILE *f, bool *lost);

/* fclose, freopen: the stream's mark goes with it (its address may be
 * reused). Returns 0, or the errno of the unseen bytes' write that
 * failed (below): libc's flush of them would have failed fclose. */
int shim_stream_closed(FILE *f)
{
	struct stream_mark *m;
	int failed = 0;

	/* Bytes a tagged stream that is written at each call (unbuffered, or
	 * any in JSON output) holds unseen go through the line writer first,
	 * as at its next call (stream_pending): libc's close would flush them
	 * raw (in JSON output, lines that are not JSON, a trial's freopen
	 * rotation). */
	if (f->_IO_write_ptr > f->_IO_write_base) {
		int saved = errno;
		bool lost = false;

		(void)stream_fd(f, &lost);
		if (lost)
			failed = errno ? errno : EIO;
		errno = saved;
	}
	m = mark_find(f, false);

	if (m)
		__atomic_store_n(&m->f, NULL, __ATOMIC_RELEASE);
	return failed;
}

/* Puts n bytes at p into the stream (lock held), a head before each
 * line they start; `*mid`: a line is open before, and after. The bytes
 * and their heads are gathered and handed to libc in one fwrite (so libc
 * writes them out as it would the program's own call: one write for a
 * line-buffered stream's several lines, its large direct writes for a
 * long one), in pieces of KEPT_GATHER bytes when they do not fit.
 * Returns the bytes of p libc took, counted as fwrite counts them. */
#define KEPT_GATHER 8192
static size_t kept_lines(FILE *f, const char *p, size_t n, bool *mid)
{
	char out[KEPT_GATHER];
	size_t done = 0;

	while (done < n) {
		size_t o = 0, took = 0, w;
		/* heads[k]: where the k-th head of this piece ends in `out`,
		 * and how long it is, to count back what libc took of p. */
		size_t head_end[64], head_len[64];
		int heads = 0;

		while (done + took < n && heads < 64) {
			const char *at = p + done + took;
			const char *nl = memchr(at, '\n', n - done - took);
			size_t len = nl ? (size_t)(nl - at) + 1 : n - done - took, h = 0;
			char head[FMT_HEAD_MAX];

			if (!*mid)
				AGENT_WORK(h = out_stdio_head(head, sizeof head, at, len));
			if (o + h + len > sizeof out) {
				if (o > 0)
					break;               /* the piece so far goes first */
				/* A line longer than the gathering space: its head,
				 * then the line, as they are. */
				if (h && REAL(fwrite_unlocked)(head, 1, h, f) < h)
					return done;
				w = REAL(fwrite_unlocked)(at, 1, len, f);
				done += w;
				*mid = w > 0 ? at[w - 1] != '\n' : *mid;
				if (w < len)
					return done;
				goto next;
			}
			if (h) {
				memcpy(out + o, head, h);
				o += h;
				head_end[heads] = o;
				head_len[heads++] = h;
			}
			memcpy(out + o, at, len);
			o += len;
			took += len;
			*mid = at[len - 1] != '\n';
		}
		w = REAL(fwrite_unlocked)(out, 1, o, f);
		if (w < o) {
			/* What of p libc took: w less the heads within it. */
			size_t in_p = w;

			for (int k = 0; k < heads; k++)
				in_p -= head_end[k] <= w ? head_len[k] :
					w > head_end[k] - head_len[k] ? w - (head_end[k] - head_len[k]) : 0;
			return done + in_p;
		}
		done += took;
next:
		;
	}
	return done;
}

/* Bytes in a stream's buffer that no call the agent saw put there are this
 * thread's in a process with one thread (putc_unlocked inlined). Once the
 * program made threads they may be any thread's (one whose fprintf went
 * to libc while freopen had the stream's fd closed: a trial's lines came
 * out under another thread's request): they carry no request then, as
 * their lines are written (unseen_begin/unseen_end around it: the
 * thread's marks muted, agent_self.muted). */
static inline bool unseen_begin(void)
{
	bool was = agent_self.muted;

	if (__atomic_load_n(&agent_threads_made, __ATOMIC_RELAXED))
		agent_self.muted = true;
	return was;
}

static inline void unseen_end(bool was)
{
	agent_self.muted = was;
}

/* Puts n bytes into a kept stream (its lock held), bytes the program put
 * unseen before them taken back and put again with their heads (none once
 * the program made threads: unseen_begin). Returns
 * the bytes of p taken; 0 when the stream's writes failed meanwhile (its
 * error flag raised by this call: the flag is cleared for the call and
 * put back after; libc's own fputs, fprintf, fputc and fwrite fail whole
 * then, though the bytes went into the buffer: a line-buffered stderr on
 * /dev/full); `as_fwrite`: counted as fwrite counts, failed or not. */
static size_t kept_put(FILE *f, const char *p, size_t n, bool as_fwrite)
{
	struct stream_mark *m = mark_find(f, true);
	char *base = f->_IO_write_base, *ptr = f->_IO_write_ptr, *from = ptr;
	bool mid, had_error = f->_flags & _IO_ERR_SEEN, failed;
	size_t done;

	f->_flags &= ~_IO_ERR_SEEN;
	if (m == NULL) {
		mid = ptr > base && ptr[-1] != '\n';
	} else if (m->tid != agent_tid()) {
		/* Another thread put the agent's last bytes: whose the bytes
		 * after them are is not known (they may be that thread's, put by
		 * an inlined putc_unlocked): left as they are, headless. */
		mid = ptr > base ? ptr[-1] != '\n' : m->mid;
	} else if (m->base == base && m->seen >= base && m->seen <= ptr) {
		mid = m->mid;
		from = m->seen;
	} else {
		/* Written out since (a flush): what it holds now is unseen. */
		mid = m->mid;
		from = base;
	}
	if (from < ptr && (size_t)(ptr - from) <= UNSEEN_MAX) {
		char unseen[UNSEEN_MAX];
		size_t k = (size_t)(ptr - from);
		bool was = unseen_begin();

		memcpy(unseen, from, k);
		f->_IO_write_ptr = from;
		kept_lines(f, unseen, k, &mid);
		unseen_end(was);
	} else if (from < ptr) {
		mid = ptr[-1] != '\n';
	}
	done = kept_lines(f, p, n, &mid);
	outputs_count();          /* the thread's write (reqctx_api_progress) */
	if (m) {
		m->base = f->_IO_write_base;
		m->seen = f->_IO_write_ptr;
		m->tid = agent_tid();
		m->mid = mid;
	}
	failed = f->_flags & _IO_ERR_SEEN;
	if (had_error)
		f->_flags |= _IO_ERR_SEEN;
	return failed && !as_fwrite ? 0 : done;
}

/* The program flushed a kept stream (its lock held): nothing it holds
 * now is unseen. */
static void kept_flushed(FILE *f)
{
	struct stream_mark *m = mark_find(f, false);

	if (m) {
		m->base = f->_IO_write_base;
		m->seen = f->_IO_write_ptr;
	}
}

static size_t kept_put_cb(void *f, const char *p, size_t n)
{
	return kept_put(f, p, n, false);
}

/* Bytes a tagged stream's buffer holds, put there by a call the agent does
 * not see (putc_unlocked, putchar_unlocked inlined by the compiler: GNU
 * coreutils' literal text), go out through the line writer, then leave the
 * buffer (__fpurge). Written by fflush they went out raw: ahead of the
 * line this thread holds for the same fd (`stat -c 'fd %d %i'` came out
 * "fd  [id] 1512345": the space after the held "15" overtook it), and a
 * line they began had no head. */
static bool stream_pending(FILE *f, int fd)
{
	bool ok = true;

	flockfile(f);
	/* A stream that also holds input read ahead (a log opened "a+" and
	 * read): __fpurge would drop that too, so libc writes them. */
	if (f->_IO_read_ptr != f->_IO_read_end) {
		ok = REAL(fflush)(f) == 0;
	} else if (f->_IO_write_ptr > f->_IO_write_base) {
		size_t n = (size_t)(f->_IO_write_ptr - f->_IO_write_base);
		bool was = unseen_begin();

		ok = put_bytes(f, fd, f->_IO_write_base, n) == n;
		unseen_end(was);
		__fpurge(f);
	}
	funlockfile(f);
	shim_cancel_point();
	return ok;
}

/* Set once the program registers a printf conversion of its own: its
 * handler runs at every formatting, so print_moving, which formats twice,
 * leaves dprintf alone from then on; and the stream a handler is given may
 * be libc's buffer, not a FILE on an fd (stream_fd). */
static int printf_handlers;

/* shim_stream_fd; `*lost` tells whether bytes stdio had buffered failed to
 * go out (errno set). A stream with its own locking (_IO_USER_LOCK) while
 * the program has printf handlers may be the one glibc's vfprintf hands a
 * handler (no fd: its fd field is never set): left to libc. */
static int stream_fd(FILE *f, bool *lost)
{
	int fd;

	if (!agent_active() || f == NULL ||
	    (unlikely(__atomic_load_n(&printf_handlers, __ATOMIC_RELAXED)) && (f->_flags & _IO_USER_LOCK)) ||
	    f->_fileno < 0)
		return -1;
	fd = f->_mode <= 0 && out_fd_tagged(f->_fileno) ? f->_fileno : -1;
	if (fd < 0) {
		struct fdslot *s = flow_slot(f->_fileno);

		if (out_must_flush_before(s))
			AGENT_WORK(out_flush_thread());
		if (unlikely(debug_fd >= 0))
			AGENT_WORK(out_saw_stdout(s));
		return -1;
	}
	if (stream_keeps(f)) {
		/* What this thread holds for the same file goes first, as
		 * the program's own write before this call did. */
		if (out_must_flush_before(flow_slot(fd)))
			AGENT_WORK(out_flush_thread());
		return fd;
	}
	/* Bytes stdio already buffered for this stream go first. */
	if (f->_IO_write_ptr > f->_IO_write_base)
		*lost = !stream_pending(f, fd);
	return fd;
}

int shim_stream_fd(FILE *f)
{
	bool lost = false;

	return stream_fd(f, &lost);
}

void shim_stream_error(FILE *f)
{
	if (f)
		f->_flags |= _IO_ERR_SEEN;
}

/* Writes bytes for a stream: all, or fewer with errno set and the stream's
 * error flag raised. */
static size_t put_bytes(FILE *f, int fd, const void *p, size_t n)
{
	size_t done;

	if (stream_keeps(f))
		return kept_put(f, p, n, false);
	agent_enter();
	done = out_write_all(fd, p, n);
	agent_leave();
	if (done < n)
		shim_stream_error(f);
	return done;
}

/*
 * The formatted-output core: `chk` < 0 for plain, else the _chk flag.
 * Returns what fprintf returns.
 */
static int print_to(FILE *f, int fd, int chk, const char *fmt, va_list ap)
{
	char buf[STACK_FMT];
	va_list again;
	int n, saved;
	FILE *b;

	va_copy(again, ap);
	n = chk < 0 ? vsnprintf(buf, sizeof buf, fmt, ap)
		    : __vsnprintf_chk(buf, sizeof buf, chk, sizeof buf, fmt, ap);
	if (n < 0) {
		va_end(again);
		shim_stream_error(f);
		return n;
	}
	if ((size_t)n < sizeof buf) {
		va_end(again);
		return put_bytes(f, fd, buf, (size_t)n) == (size_t)n ? n : -1;
	}
	/* Too long for the stack: stream it through the line writer's stream
	 * (or into the kept stream's buffer). */
	agent_enter();
	b = stream_keeps(f) ? out_stream_begin_put(kept_put_cb, f) : out_stream_begin(fd);
	if (b == NULL) {
		agent_leave();
		n = chk < 0 ? REAL(vfprintf)(f ? f : stderr, fmt, again)
			    : REAL(__vfprintf_chk)(f ? f : stderr, chk, fmt, again);
		va_end(again);
		return n;
	}
	n = chk < 0 ? REAL(vfprintf)(b, fmt, again) : REAL(__vfprintf_chk)(b, chk, fmt, again);
	va_end(again);
	if (out_stream_end(b) < 0)
		n = -1;
	saved = errno;
	agent_leave();
	if (n < 0)
		shim_stream_error(f);
	errno = saved;
	return n;
}

static int stream_print(FILE *f, int chk, const char *fmt, va_list ap)
{
	int fd = shim_stream_fd(f), r;

	if (fd < 0)
		return chk < 0 ? REAL(vfprintf)(f, fmt, ap) : REAL(__vfprintf_chk)(f, chk, fmt, ap);
	flockfile(f);
	r = print_to(f, fd, chk, fmt, ap);
	funlockfile(f);
	shim_cancel_point();
	return r;
}

AGENT_EXPORT int vfprintf(FILE *f, const char *fmt, va_list ap)
{
	return stream_print(f, -1, fmt, ap);
}

AGENT_EXPORT int fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = stream_print(f, -1, fmt, ap);
	va_end(ap);
	return r;
}

AGENT_EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
{
	return stream_print(f, flag, fmt, ap);
}

AGENT_EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = stream_print(f, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* printf and friends are vfprintf(stdout, ...) in glibc too. */
AGENT_EXPORT int vprintf(const char *fmt, va_list ap)
{
	return stream_print(stdout, -1, fmt, ap);
}

AGENT_EXPORT int printf(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = stream_print(stdout, -1, fmt, ap);
	va_end(ap);
	return r;
}

AGENT_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
	return stream_print(stdout, flag, fmt, ap);
}

AGENT_EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = stream_print(stdout, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* dprintf to an fd that moves contexts (a job queue's pipe, a client's
 * socket): the rules a write() there gets (agent/flow.h), around libc's
 * own call, whose writes are internal calls no interposer sees. The
 * length and the first bytes come from formatting once more, into 9
 * bytes (no system call; a %n is stored twice, with the same value; not
 * done once the program has printf handlers of its own). */
static __attribute__((noinline)) int print_moving(struct fdslot *s, int fd, int chk,
						  const char *fmt, va_list ap)
{
	char head[9];
	va_list again;
	int n, k, r;

	va_copy(again, ap);
	n = vsnprintf(head, sizeof head, fmt, again);
	va_end(again);
	if (n <= 0)
		return chk < 0 ? REAL(vdprintf)(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, chk, fmt, ap);
	k = flow_write_begins_head(s, fd, NULL, head, (size_t)n);
	r = chk < 0 ? REAL(vdprintf)(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, chk, fmt, ap);
	return (int)flow_write_ends(k, fd, NULL, (size_t)n, r);
}


AGENT_EXPORT int register_printf_specifier(int spec, printf_function *fn,
					   printf_arginfo_size_function *info)
{
	__atomic_store_n(&printf_handlers, 1, __ATOMIC_RELAXED);
	return REAL(register_printf_specifier)(spec, fn, info);
}

AGENT_EXPORT int register_printf_function(int spec, printf_function *fn, printf_arginfo_function *info)
{
	__atomic_store_n(&printf_handlers, 1, __ATOMIC_RELAXED);
	return REAL(register_printf_function)(spec, fn, info);
}

static int fd_print(int fd, int chk, const char *fmt, va_list ap)
{
	struct fdslot *s;

	if (!agent_active() || fd < 0)
		return chk < 0 ? REAL(vdprintf)(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, chk, fmt, ap);
	s = flow_slot(fd);
	if (!out_slot_tagged(s)) {
		if (s && fdmap_kind(s) >= FD_CLIENT &&
		    !__atomic_load_n(&printf_handlers, __ATOMIC_RELAXED))
			return print_moving(s, fd, chk, fmt, ap);
		if (out_must_flush_before(s))
			AGENT_WORK(out_flush_thread());
		return chk < 0 ? REAL(vdprintf)(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, chk, fmt, ap);
	}
	return print_to(NULL, fd, chk, fmt, ap);
}

AGENT_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	return fd_print(fd, -1, fmt, ap);
}

AGENT_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fd_print(fd, -1, fmt, ap);
	va_end(ap);
	return r;
}

AGENT_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	return fd_print(fd, flag, fmt, ap);
}

AGENT_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fd_print(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* fputs, puts, fputc, putchar, fwrite and their unlocked forms. */

static int puts_common(const char *s, FILE *f, bool lock)
{
	int fd = shim_stream_fd(f);
	size_t n, done;

	if (fd < 0)
		return lock ? REAL(fputs)(s, f) : REAL(fputs_unlocked)(s, f);
	n = strlen(s);
	if (lock)
		flockfile(f);
	done = put_bytes(f, fd, s, n);
	if (lock)
		funlockfile(f);
	shim_cancel_point();
	return done == n ? 1 : EOF;
}

AGENT_EXPORT int fputs(const char *s, FILE *f) { return puts_common(s, f, true); }
AGENT_EXPORT int fputs_unlocked(const char *s, FILE *f) { return puts_common(s, f, false); }

AGENT_EXPORT int puts(const char *s)
{
	int fd = shim_stream_fd(stdout);
	size_t n;
	bool ok;

	if (fd < 0)
		return REAL(puts)(s);
	n = strlen(s);
	flockfile(stdout);
	ok = put_bytes(stdout, fd, s, n) == n && put_bytes(stdout, fd, "\n", 1) == 1;
	funlockfile(stdout);
	shim_cancel_point();
	return ok ? (n < INT_MAX ? (int)n + 1 : INT_MAX) : EOF;
}

static int putc_common(int c, FILE *f, bool lock)
{
	int fd = shim_stream_fd(f);
	unsigned char ch = (unsigned char)c;
	size_t done;

	if (fd < 0)
		return lock ? REAL(fputc)(c, f) : REAL(fputc_unlocked)(c, f);
	if (lock)
		flockfile(f);
	done = put_bytes(f, fd, &ch, 1);
	if (lock)
		funlockfile(f);
	shim_cancel_point();
	return done == 1 ? ch : EOF;
}

AGENT_EXPORT int fputc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int putc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int _IO_putc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int fputc_unlocked(int c, FILE *f) { return putc_common(c, f, false); }
AGENT_EXPORT int putc_unlocked(int c, FILE *f) { return putc_common(c, f, false); }
AGENT_EXPORT int putchar(int c) { return putc_common(c, stdout, true); }
AGENT_EXPORT int putchar_unlocked(int c) { return putc_common(c, stdout, false); }

static size_t fwrite_common(const void *p, size_t size, size_t nmemb, FILE *f, bool lock)
{
	int fd = shim_stream_fd(f);
	size_t n, done;

	if (fd < 0 || size == 0 || nmemb == 0 || nmemb > SIZE_MAX / size)
		return lock ? REAL(fwrite)(p, size, nmemb, f)
			    : REAL(fwrite_unlocked)(p, size, nmemb, f);
	n = size * nmemb;
	if (lock)
		flockfile(f);
	done = stream_keeps(f) ? kept_put(f, p, n, true) : put_bytes(f, fd, p, n);
	if (lock)
		funlockfile(f);
	shim_cancel_point();
	return done == n ? nmemb : done / size;
}

AGENT_EXPORT size_t fwrite(const void *p, size_t size, size_t nmemb, FILE *f)
{
	return fwrite_common(p, size, nmemb, f, true);
}

AGENT_EXPORT size_t fwrite_unlocked(const void *p, size_t size, size_t nmemb, FILE *f)
{
	return fwrite_common(p, size, nmemb, f, false);
}

/* fflush of a stream on an fd that moves contexts (a job queue's pipe
 * written with fprintf, then fflush): its buffered bytes are a write, made
 * by libc's internal calls; the write rules go around it, as around a
 * write(). Several threads may have put them in the buffer, so into a
 * channel they go as nobody's (flow_write_nobody): its reads carry none,
 * never the flushing thread's request for another's job. The bytes the
 * kernel took are those no longer buffered after. */
static __attribute__((noinline)) int flush_moving(FILE *f, struct fdslot *s)
{
	size_t n = (size_t)(f->_IO_write_ptr - f->_IO_write_base);
	int fd = f->_fileno, k, r;
	size_t left;

	if (fdmap_kind(s) == FD_CHAN)
		AGENT_WORK(k = flow_write_nobody(s, f->_IO_write_base, n));
	else
		k = flow_write_begins(s, fd, f->_IO_write_base, n);
	r = REAL(fflush)(f);
	left = f->_IO_write_ptr > f->_IO_write_base ? (size_t)(f->_IO_write_ptr - f->_IO_write_base) : 0;
	flow_write_ends(k, fd, NULL, n, (ssize_t)(left < n ? n - left : 0));
	return r;
}

/* An explicit flush may send a stream's bytes where a held line goes. */
AGENT_EXPORT int fflush(FILE *f)
{
	/* A tagged stream's buffered bytes go through the line writer; when
	 * the kernel refused them, fflush fails as it would have. */
	if (f != NULL && f->_IO_write_ptr > f->_IO_write_base) {
		bool lost = false;

		if (stream_fd(f, &lost) >= 0 && lost)
			return EOF;
	}
	if (agent_active() && out_holding() && (f == NULL || out_must_flush_before(flow_slot(f->_fileno))))
		AGENT_WORK(out_flush_thread());
	if (f != NULL && f->_IO_write_ptr > f->_IO_write_base && f->_fileno >= 0 && agent_active()) {
		struct fdslot *s = flow_slot(f->_fileno);

		if (s && fdmap_kind(s) >= FD_CLIENT)
			return flush_moving(f, s);
	}
	if (f != NULL && f->_fileno >= 0 && stream_keeps(f) && agent_active() &&
	    out_fd_tagged(f->_fileno)) {
		int r;

		flockfile(f);
		r = REAL(fflush)(f);
		kept_flushed(f);
		funlockfile(f);
		return r;
	}
	return REAL(fflush)(f);
}

/* Streams that make fds: the fd is a new object (a log if it is open on
 * the log's file). libc opens it without the exported open(). */
static FILE *opened(FILE *f, const char *path)
{
	if (f && f->_fileno >= 0 && agent_active())
		AGENT_WORK(flow_new_fd(f->_fileno, FD_UNKNOWN);
			  out_fd_opened_path(f->_fileno, AT_FDCWD, path, true);
			  inherit_stdin_opened(f->_fileno, path));
	return f;
}

AGENT_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return opened(REAL(fopen)(path, mode), path);
}

AGENT_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return opened(REAL(fopen64)(path, mode), path);
}

/*
 * freopen closes the stream's fd and opens the new file inside libc (log
 * rotation: freopen(path, "a", stderr)). What threads hold for the old file
 * goes there first; afterwards the fd is a new object, and when the stream
 * is stderr the new file is the log.
 */
static FILE *reopen(FILE *(*real)(const char *, const char *, FILE *),
		    const char *path, const char *mode, FILE *f)
{
	int fd = f ? f->_fileno : -1;
	FILE *r;

	if (!agent_active())
		return real(path, mode, f);
	if (f)
		shim_stream_closed(f);
	if (fd >= 0)
		AGENT_WORK(out_fd_closing(fd));
	r = real(path, mode, f);
	if (r == NULL || r->_fileno < 0) {
		if (fd >= 0)
			AGENT_WORK(flow_new_fd(fd, FD_UNKNOWN));
		return r;
	}
	AGENT_WORK(
		bool std2 = r == stderr && r->_fileno == 2;
		bool same = false;
		int kind = std2 || (r == stdout && r->_fileno == 1) ? out_redirect_kind(r->_fileno, &same) : -1;

		if (fd >= 0 && fd != r->_fileno)
			flow_new_fd(fd, FD_UNKNOWN);
		if (std2 || kind >= 0) {
			/* stderr's, or a tagged stdout's, new file: its kind
			 * set with the reset, so that another thread's write
			 * meanwhile never finds the fd unknown
			 * (out_redirect_kind). */
			flow_new_fd(r->_fileno, kind >= 0 ? (enum fd_kind)kind : FD_UNKNOWN);
			out_redirected(r->_fileno, kind, same);
		} else {
			flow_new_fd(r->_fileno, FD_UNKNOWN);
			out_fd_opened_path(r->_fileno, AT_FDCWD, path, true);
		}
	);
	return r;
}

AGENT_EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	return reopen(REAL(freopen), path, mode, f);
}

AGENT_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *f)
{
	return reopen(REAL(freopen64), path, mode, f);
}
