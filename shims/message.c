/*
 * message.c - messages libc composes itself on stderr: perror, psignal,
 * error, error_at_line, the err/warn family. Each is composed here the way
 * glibc composes it, into the line writer's stream when stderr is tagged
 * (so it goes out as one piece), else onto stderr through libc, as libc
 * itself would: in the pieces glibc 2.36 prints it in (on an unbuffered
 * stderr, one write each: perror and psignal one, error "name: ", the
 * message, ": error text", "\n"; warn "name: ", the message, ": text\n",
 * or "name: text\n" without a message).
 */
#include <err.h>
#include <error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/out_stream.h"
#include "shims/shim.h"
#include "shims/stream.h"

/* What one message needs: its parts, as the function was called. */
struct msg {
	const char *s;            /* perror/psignal's prefix */
	int errnum;               /* error text to append, 0: none */
	bool with_errno;          /* warn/err: append errnum's text, even for 0 */
	int sig;
	const char *file;
	unsigned line;
	bool at_line;             /* error_at_line (error: false) */
	const char *fmt;
	va_list *ap;
};

/* Writes the message into `f`; `tagged`: f is the line writer's stream,
 * and the agent's guard is held. */
typedef void (*compose_fn)(FILE *f, bool tagged, const struct msg *m);

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

/* Composes one message on stderr, whole. Returns 0, or the errno of the
 * write that failed (which libc's own versions leave in errno too). */
static int compose(compose_fn fn, const struct msg *m)
{
	int fd = shim_stream_fd(stderr), err = 0;
	FILE *b = NULL;

	flockfile(stderr);
	if (fd >= 0) {
		agent_enter();
		b = out_stream_begin(fd);
		if (b == NULL)
			agent_leave();
	}
	fn(b ? b : stderr, b != NULL, m);
	if (b) {
		if (out_stream_end(b) < 0) {
			err = errno;
			shim_stream_error(stderr);
		}
		agent_leave();
	} else if (ferror(stderr)) {
		err = errno;
	}
	funlockfile(stderr);
	shim_cancel_point();
	return err;
}

/* "s: error text\n", or the signal's description. */
static void perror_text(FILE *f, bool tagged, const struct msg *m)
{
	char eb[256];

	(void)tagged;
	bprintf(f, "%s%s%s\n", m->s && *m->s ? m->s : "", m->s && *m->s ? ": " : "",
		errtext(m->errnum, eb, sizeof eb));
}

static void psignal_text(FILE *f, bool tagged, const struct msg *m)
{
	const char *d = sigdescr_np(m->sig);

	const char *s = m->s && *m->s ? m->s : "", *colon = *s ? ": " : "";

	(void)tagged;
	if (d)
		bprintf(f, "%s%s%s\n", s, colon, d);
	else
		bprintf(f, "%s%sUnknown signal %d\n", s, colon, m->sig);
}

AGENT_EXPORT void perror(const char *s)
{
	int e = errno, err;
	struct msg m = { .s = s, .errnum = e };

	if (shim_stream_fd(stderr) < 0) {
		REAL(perror)(s);
		return;
	}
	err = compose(perror_text, &m);
	errno = err ? err : e;
}

AGENT_EXPORT void psignal(int sig, const char *s)
{
	int e = errno, err;
	struct msg m = { .s = s, .sig = sig };

	if (shim_stream_fd(stderr) < 0) {
		REAL(psignal)(sig, s);
		return;
	}
	err = compose(psignal_text, &m);
	errno = err ? err : e;
}

/* error(3) and error_at_line(3): "program:[file:line: ]message[: error]\n". */
static void error_text(FILE *f, bool tagged, const struct msg *m)
{
	char eb[256];

	if (error_print_progname) {
		/* The user's hook prints the name itself, through stderr. */
		REAL(fflush)(f);
		if (tagged)
			agent_leave();
		error_print_progname();
		if (tagged)
			agent_enter();
	} else if (!m->at_line) {
		bprintf(f, "%s: ", program_invocation_name);   /* error: one piece */
	} else {
		bprintf(f, "%s:", program_invocation_name);
	}
	if (m->file)
		bprintf(f, "%s:%u: ", m->file, m->line);
	else if (m->at_line)
		bputs(f, " ");
	REAL(vfprintf)(f, m->fmt, *m->ap);
	if (m->errnum)
		bprintf(f, ": %s", errtext(m->errnum, eb, sizeof eb));
	bputs(f, "\n");
}

/* ... counted in error_message_count, then exit(status) if status is not 0. */
static void verror_common(int status, int errnum, bool at_line, const char *file, unsigned line,
			  const char *fmt, va_list ap)
{
	va_list copy;
	struct msg m = { .errnum = errnum, .file = file, .line = line, .at_line = at_line,
			 .fmt = fmt, .ap = &copy };

	va_copy(copy, ap);
	REAL(fflush)(stdout);
	compose(error_text, &m);
	va_end(copy);
	++error_message_count;
	if (status)
		exit(status);
}

AGENT_EXPORT void error(int status, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_common(status, errnum, false, NULL, 0, fmt, ap);
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
	verror_common(status, errnum, true, file, line, fmt, ap);
	va_end(ap);
}

/* err(3)/warn(3): "program: [message: ]error\n" or, x forms, "program: message\n". */
static void warn_text(FILE *f, bool tagged, const struct msg *m)
{
	char eb[256];

	(void)tagged;
	if (!m->fmt && m->with_errno) {         /* warn(NULL): one piece */
		bprintf(f, "%s: %s\n", program_invocation_short_name, errtext(m->errnum, eb, sizeof eb));
		return;
	}
	bprintf(f, "%s: ", program_invocation_short_name);
	if (m->fmt)
		REAL(vfprintf)(f, m->fmt, *m->ap);
	if (m->with_errno)
		bprintf(f, ": %s\n", errtext(m->errnum, eb, sizeof eb));
	else
		bputs(f, "\n");
}

static void vwarn_common(bool with_errno, const char *fmt, va_list ap)
{
	int e = errno, err;
	va_list copy;
	struct msg m = { .errnum = e, .with_errno = with_errno, .fmt = fmt, .ap = &copy };

	va_copy(copy, ap);
	err = compose(warn_text, &m);
	va_end(copy);
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
