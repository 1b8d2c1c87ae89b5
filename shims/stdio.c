/*
 * stdio.c - stdio on stderr. Inside libc, fprintf and friends reach the
 * kernel through internal calls that no write() interposer sees, so each
 * printing function that can target stderr is interposed here: the text is
 * formatted by libc itself (into a stack buffer, or for long output into a
 * per-thread stream that feeds the line writer in 4 KiB pieces) and handed
 * to the line writer. Return values and the stream's error flag follow
 * what libc would give for an unbuffered stderr.
 *
 * A stream is tagged when it is byte-oriented and its fd is output (fd 2 or
 * open on the same file). Anything else goes straight to libc.
 */
#include <err.h>
#include <error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shims/shim.h"

#define STACK_FMT 1024

/* libc's fortified entry points, which its headers do not declare. */
extern int __vsnprintf_chk(char *, size_t, int, size_t, const char *, va_list);
int __fprintf_chk(FILE *, int, const char *, ...);
int __vfprintf_chk(FILE *, int, const char *, va_list);
int __dprintf_chk(int, int, const char *, ...);
int __vdprintf_chk(int, int, const char *, va_list);
int _IO_putc(int, FILE *);

/* Optimised builds of <stdio.h> turn some of these into macros. */
#undef fwrite_unlocked
#undef fputc_unlocked
#undef putc_unlocked
#undef putc

struct sink {
	int fd;
	int err;
};

static AGENT_TLS FILE *builder;
static AGENT_TLS struct sink sink;
static pthread_key_t builder_key;
static pthread_once_t builder_once = PTHREAD_ONCE_INIT;

static void builder_free(void *f)
{
	if (f) {
		agent_enter();
		REAL(fclose)(f);
		agent_leave();
	}
	builder = NULL;
}

static void builder_key_make(void)
{
	pthread_key_create(&builder_key, builder_free);
}

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct sink *s = cookie;

	/* Another thread's builder, inherited by a forked child in the middle
	 * of a long fprintf and flushed by the child's exit(): the parent
	 * writes those bytes, the child must not write them again. */
	if (s != &sink)
		return (ssize_t)n;

	if (s->err)
		return -1;
	if (out_write_all(s->fd, buf, n) < 0) {
		s->err = errno ? errno : EIO;
		return -1;
	}
	return (ssize_t)n;
}

/* A stream whose output goes to the line writer for `fd`, or NULL. */
static FILE *builder_begin(int fd)
{
	if (builder == NULL) {
		cookie_io_functions_t io = { NULL, sink_write, NULL, NULL };

		pthread_once(&builder_once, builder_key_make);
		builder = fopencookie(&sink, "w", io);
		if (builder == NULL)
			return NULL;
		setvbuf(builder, NULL, _IOFBF, 4096);
		pthread_setspecific(builder_key, builder);
	}
	sink.fd = fd;
	sink.err = 0;
	return builder;
}

/* Flushes the builder: 0, or -1 with errno when the writer failed. */
static int builder_end(FILE *b)
{
	int bad = fflush(b) != 0 || ferror(b) || sink.err;
	int err = sink.err ? sink.err : EIO;

	clearerr(b);
	sink.err = 0;
	if (bad) {
		errno = err;
		return -1;
	}
	return 0;
}

/* The output fd behind `f` when it is to be tagged, else -1. */
static int tagged_fd(FILE *f)
{
	int fd = -1;

	if (!agent_active() || !ctx_seen() || f == NULL || f->_mode > 0 || f->_fileno < 0)
		return -1;
	SHIM_CORE(fd = flow_kind_for_write(f->_fileno) == FD_OUTPUT ? f->_fileno : -1);
	/* Bytes stdio already buffered for this stream go first. */
	if (fd >= 0 && f->_IO_write_ptr > f->_IO_write_base)
		fflush(f);
	return fd;
}

static int tagged_fd_of(int fd)
{
	int k = -1;

	if (!agent_active() || !ctx_seen() || fd < 0)
		return -1;
	SHIM_CORE(k = flow_kind_for_write(fd) == FD_OUTPUT ? fd : -1);
	return k;
}

static void mark_error(FILE *f)
{
	f->_flags |= _IO_ERR_SEEN;
}

/* Writes bytes for a stream: returns the bytes written (all, or fewer with
 * errno set and the stream's error flag raised). */
static size_t put_bytes(FILE *f, int fd, const void *p, size_t n)
{
	const char *c = p;
	size_t done = 0;

	agent_enter();
	while (done < n) {
		struct iovec v = { (void *)(c + done), n - done };
		ssize_t r = out_write(fd, &v, 1);

		if (r < 0)
			break;
		done += (size_t)r;
	}
	agent_leave();
	if (done < n && f)
		mark_error(f);
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
		if (f)
			mark_error(f);
		return n;
	}
	if ((size_t)n < sizeof buf) {
		va_end(again);
		return put_bytes(f, fd, buf, (size_t)n) == (size_t)n ? n : -1;
	}
	/* Too long for the stack: stream it through the builder. */
	agent_enter();
	b = builder_begin(fd);
	if (b == NULL) {
		agent_leave();
		n = chk < 0 ? REAL(vfprintf)(f ? f : stderr, fmt, again)
			    : REAL(__vfprintf_chk)(f ? f : stderr, chk, fmt, again);
		va_end(again);
		return n;
	}
	n = chk < 0 ? REAL(vfprintf)(b, fmt, again) : REAL(__vfprintf_chk)(b, chk, fmt, again);
	va_end(again);
	if (builder_end(b) < 0)
		n = -1;
	saved = errno;
	agent_leave();
	if (n < 0 && f)
		mark_error(f);
	errno = saved;
	return n;
}

static int stream_print(FILE *f, int chk, const char *fmt, va_list ap)
{
	int fd = tagged_fd(f), r;

	if (fd < 0)
		return chk < 0 ? REAL(vfprintf)(f, fmt, ap) : REAL(__vfprintf_chk)(f, chk, fmt, ap);
	flockfile(f);
	r = print_to(f, fd, chk, fmt, ap);
	funlockfile(f);
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

static int fd_print(int fd, int chk, const char *fmt, va_list ap)
{
	int tfd = tagged_fd_of(fd);

	if (tfd < 0)
		return chk < 0 ? REAL(vdprintf)(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, chk, fmt, ap);
	return print_to(NULL, tfd, chk, fmt, ap);
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

/* fputs, fputc, fwrite and their unlocked forms. */

static int puts_common(const char *s, FILE *f, bool lock)
{
	int fd = tagged_fd(f);
	size_t n, done;

	if (fd < 0)
		return lock ? REAL(fputs)(s, f) : REAL(fputs_unlocked)(s, f);
	n = strlen(s);
	if (lock)
		flockfile(f);
	done = put_bytes(f, fd, s, n);
	if (lock)
		funlockfile(f);
	return done == n ? 1 : EOF;
}

AGENT_EXPORT int fputs(const char *s, FILE *f) { return puts_common(s, f, true); }
AGENT_EXPORT int fputs_unlocked(const char *s, FILE *f) { return puts_common(s, f, false); }

static int putc_common(int c, FILE *f, bool lock)
{
	int fd = tagged_fd(f);
	unsigned char ch = (unsigned char)c;
	size_t done;

	if (fd < 0)
		return lock ? REAL(fputc)(c, f) : REAL(fputc_unlocked)(c, f);
	if (lock)
		flockfile(f);
	done = put_bytes(f, fd, &ch, 1);
	if (lock)
		funlockfile(f);
	return done == 1 ? ch : EOF;
}

AGENT_EXPORT int fputc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int putc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int _IO_putc(int c, FILE *f) { return putc_common(c, f, true); }
AGENT_EXPORT int fputc_unlocked(int c, FILE *f) { return putc_common(c, f, false); }
AGENT_EXPORT int putc_unlocked(int c, FILE *f) { return putc_common(c, f, false); }

static size_t fwrite_common(const void *p, size_t size, size_t nmemb, FILE *f, bool lock)
{
	int fd = tagged_fd(f);
	size_t n, done;

	if (fd < 0 || size == 0 || nmemb == 0 || nmemb > SIZE_MAX / size)
		return lock ? REAL(fwrite)(p, size, nmemb, f)
			    : REAL(fwrite_unlocked)(p, size, nmemb, f);
	n = size * nmemb;
	if (lock)
		flockfile(f);
	done = put_bytes(f, fd, p, n);
	if (lock)
		funlockfile(f);
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

/* Messages libc composes itself: perror, psignal, error, err/warn. Each is
 * composed here the way glibc composes it and written as one piece. */

/*
 * Composition of a whole message on stderr: into the builder when stderr is
 * tagged, else straight onto stderr through libc, as libc itself would.
 */
struct compose {
	FILE *f;
	bool tagged;
};

static struct compose compose_begin(void)
{
	struct compose c = { stderr, false };
	int fd = tagged_fd(stderr);

	flockfile(stderr);
	if (fd >= 0) {
		FILE *b;

		agent_enter();
		b = builder_begin(fd);
		if (b) {
			c.f = b;
			c.tagged = true;
		} else {
			agent_leave();
		}
	}
	return c;
}

/* Returns 0, or the errno of the write that failed (which libc's own
 * versions leave in errno too). */
static int compose_end(struct compose c)
{
	int err = 0;

	if (c.tagged) {
		if (builder_end(c.f) < 0) {
			err = errno;
			mark_error(stderr);
		}
		agent_leave();
	} else if (ferror(stderr)) {
		err = errno;
	}
	funlockfile(stderr);
	return err;
}

static void bputs(FILE *b, const char *s)
{
	REAL(fputs_unlocked)(s, b);
}

static void bprintf(FILE *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	REAL(vfprintf)(b, fmt, ap);
	va_end(ap);
}

static const char *errtext(int e, char *buf, size_t n)
{
	return strerror_r(e, buf, n);
}

AGENT_EXPORT void perror(const char *s)
{
	int e = errno, err;
	char eb[256];
	struct compose c;

	if (tagged_fd(stderr) < 0) {
		REAL(perror)(s);
		return;
	}
	c = compose_begin();
	if (s && *s) {
		bputs(c.f, s);
		bputs(c.f, ": ");
	}
	bputs(c.f, errtext(e, eb, sizeof eb));
	bputs(c.f, "\n");
	err = compose_end(c);
	errno = err ? err : e;
}

AGENT_EXPORT void psignal(int sig, const char *s)
{
	int e = errno, err;
	const char *d = sigdescr_np(sig);
	struct compose c;

	if (tagged_fd(stderr) < 0) {
		REAL(psignal)(sig, s);
		return;
	}
	c = compose_begin();
	if (s && *s) {
		bputs(c.f, s);
		bputs(c.f, ": ");
	}
	if (d)
		bprintf(c.f, "%s\n", d);
	else
		bprintf(c.f, "Unknown signal %d\n", sig);
	err = compose_end(c);
	errno = err ? err : e;
}

/* error(3) and error_at_line(3): "program:[file:line: ]message[: error]\n",
 * counted in error_message_count, then exit(status) if status is not 0. */
static void verror_common(int status, int errnum, const char *file, unsigned line,
			  const char *fmt, va_list ap)
{
	char eb[256];
	struct compose c;

	fflush(stdout);
	c = compose_begin();
	if (error_print_progname) {
		/* The user's hook prints the name itself, through stderr. */
		fflush(c.f);
		if (c.tagged)
			agent_leave();
		error_print_progname();
		if (c.tagged)
			agent_enter();
	} else {
		bprintf(c.f, "%s:", program_invocation_name);
	}
	if (file)
		bprintf(c.f, error_print_progname ? "%s:%u: " : "%s:%u: ", file, line);
	else if (!error_print_progname)
		bputs(c.f, " ");
	REAL(vfprintf)(c.f, fmt, ap);
	if (errnum)
		bprintf(c.f, ": %s", errtext(errnum, eb, sizeof eb));
	bputs(c.f, "\n");
	compose_end(c);
	++error_message_count;
	if (status)
		exit(status);
}

AGENT_EXPORT void error(int status, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_common(status, errnum, NULL, 0, fmt, ap);
	va_end(ap);
}

AGENT_EXPORT void error_at_line(int status, int errnum, const char *file, unsigned line,
				 const char *fmt, ...)
{
	static const char *last_file;
	static unsigned last_line;
	va_list ap;

	if (error_one_per_line) {
		if (last_line == line && file && last_file &&
		    (file == last_file || strcmp(file, last_file) == 0))
			return;
		last_file = file;
		last_line = line;
	}
	va_start(ap, fmt);
	verror_common(status, errnum, file, line, fmt, ap);
	va_end(ap);
}

/* err(3)/warn(3): "program: [message: ]error\n" or, x forms, "program: message\n". */
static void vwarn_common(bool with_errno, const char *fmt, va_list ap)
{
	int e = errno, err;
	char eb[256];
	struct compose c = compose_begin();

	bprintf(c.f, "%s: ", program_invocation_short_name);
	if (fmt) {
		REAL(vfprintf)(c.f, fmt, ap);
		if (with_errno)
			bputs(c.f, ": ");
	}
	if (with_errno)
		bputs(c.f, errtext(e, eb, sizeof eb));
	bputs(c.f, "\n");
	err = compose_end(c);
	errno = err ? err : e;
}

AGENT_EXPORT void vwarn(const char *fmt, va_list ap) { vwarn_common(true, fmt, ap); }
AGENT_EXPORT void vwarnx(const char *fmt, va_list ap) { vwarn_common(false, fmt, ap); }

AGENT_EXPORT void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_common(true, fmt, ap);
	va_end(ap);
}

AGENT_EXPORT void warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_common(false, fmt, ap);
	va_end(ap);
}

AGENT_EXPORT void verr(int status, const char *fmt, va_list ap)
{
	vwarn_common(true, fmt, ap);
	exit(status);
}

AGENT_EXPORT void verrx(int status, const char *fmt, va_list ap)
{
	vwarn_common(false, fmt, ap);
	exit(status);
}

AGENT_EXPORT void err(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(status, fmt, ap);
}

AGENT_EXPORT void errx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrx(status, fmt, ap);
}
