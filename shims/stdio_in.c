/*
 * stdio_in.c - reads through stdio. libc fills a FILE's buffer with its own
 * internal read, which no interposer sees. On a pipe or socketpair that
 * hands work between threads (an FD_CHAN, agent/flow.h) the bytes a call
 * returns are the channel's next bytes, in order, whenever libc read them
 * from the kernel: each call that returns bytes from a FILE on such a
 * channel is reported as a read of those bytes, as read() would be. Any
 * other FILE is libc's alone. fgets counts its line to its newline (a NUL
 * inside is data); fread its whole items. The fortified forms
 * (_FORTIFY_SOURCE) and __getdelim (getline when optimising) too.
 */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "agent/inherit.h"
#include "shims/shim.h"

/* libc's fortified entry points, which its headers do not declare. */
char *__fgets_chk(char *, size_t, int, FILE *);
char *__fgets_unlocked_chk(char *, size_t, int, FILE *);
size_t __fread_chk(void *, size_t, size_t, size_t, FILE *);
size_t __fread_unlocked_chk(void *, size_t, size_t, size_t, FILE *);

static __attribute__((noinline)) void stream_read_work(struct fdslot *s, int fd, const void *data,
							size_t n)
{
	if (agent_active() && !flow_read_plain(s))
		AGENT_WORK(flow_read_done(s, fd, data, n, (ssize_t)n));
}

static __attribute__((noinline)) void stream_stdin_read(int fd)
{
	if (inherit_stdin_fd(fd) && agent_active())
		AGENT_WORK(inherit_stdin_read());
}

/* `n` bytes at `data` came out of FILE `f`: inline up to the fd's kind
 * (glibc's FILE names its fd; -1 for a memory or cookie stream), so a
 * file read a character at a time pays a few instructions per call. */
static inline __attribute__((always_inline)) void stream_read(FILE *f, const void *data, size_t n)
{
	struct fdslot *s;
	int fd = f->_fileno;

	if (n == 0 || fd < 0)
		return;
	if ((s = flow_slot(fd)) == NULL || fdmap_kind(s) != FD_CHAN) {
		/* A fed helper's stdin, a line (or an item) at a time. */
		if (unlikely(fd <= __atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED)))
			stream_stdin_read(fd);
		return;
	}
	stream_read_work(s, fd, data, n);
}

/* The bytes fgets took into r (a buffer of `size`): to its newline, or
 * size - 1 of them; a NUL among them is data, so the newline is looked for
 * past it. A short line with neither ends at the end of the stream. */
static size_t line_taken(FILE *f, const char *r, int size)
{
	size_t len = strlen(r), cap = size > 1 ? (size_t)size - 1 : 0;
	const char *nl;

	if ((len > 0 && r[len - 1] == '\n') || len >= cap || feof_unlocked(f))
		return len;
	nl = memchr(r + len, '\n', cap - len);
	return nl ? (size_t)(nl - r) + 1 : cap;
}

static inline char *line_read(FILE *f, char *r, int size)
{
	if (r)
		stream_read(f, r, line_taken(f, r, size));
	return r;
}

AGENT_EXPORT char *fgets(char *buf, int size, FILE *f)
{
	return line_read(f, REAL(fgets)(buf, size, f), size);
}

AGENT_EXPORT char *fgets_unlocked(char *buf, int size, FILE *f)
{
	return line_read(f, REAL(fgets_unlocked)(buf, size, f), size);
}

/* The fortified forms (-D_FORTIFY_SOURCE). */
AGENT_EXPORT char *__fgets_chk(char *buf, size_t cap, int size, FILE *f)
{
	return line_read(f, REAL(__fgets_chk)(buf, cap, size, f), size);
}

AGENT_EXPORT char *__fgets_unlocked_chk(char *buf, size_t cap, int size, FILE *f)
{
	return line_read(f, REAL(__fgets_unlocked_chk)(buf, cap, size, f), size);
}

AGENT_EXPORT ssize_t getdelim(char **line, size_t *cap, int delim, FILE *f)
{
	ssize_t r = REAL(getdelim)(line, cap, delim, f);

	if (r > 0)
		stream_read(f, *line, (size_t)r);
	return r;
}

/* What glibc's headers make of getline when optimising. */
AGENT_EXPORT ssize_t __getdelim(char **line, size_t *cap, int delim, FILE *f)
{
	ssize_t r = REAL(__getdelim)(line, cap, delim, f);

	if (r > 0)
		stream_read(f, *line, (size_t)r);
	return r;
}

AGENT_EXPORT ssize_t getline(char **line, size_t *cap, FILE *f)
{
	ssize_t r = REAL(getline)(line, cap, f);

	if (r > 0)
		stream_read(f, *line, (size_t)r);
	return r;
}

AGENT_EXPORT size_t fread(void *buf, size_t size, size_t nmemb, FILE *f)
{
	size_t r = REAL(fread)(buf, size, nmemb, f);

	if (r > 0)
		stream_read(f, buf, r * size);
	return r;
}

AGENT_EXPORT size_t (fread_unlocked)(void *buf, size_t size, size_t nmemb, FILE *f)
{
	size_t r = REAL(fread_unlocked)(buf, size, nmemb, f);

	if (r > 0)
		stream_read(f, buf, r * size);
	return r;
}

AGENT_EXPORT size_t __fread_chk(void *buf, size_t cap, size_t size, size_t nmemb, FILE *f)
{
	size_t r = REAL(__fread_chk)(buf, cap, size, nmemb, f);

	if (r > 0)
		stream_read(f, buf, r * size);
	return r;
}

AGENT_EXPORT size_t __fread_unlocked_chk(void *buf, size_t cap, size_t size, size_t nmemb, FILE *f)
{
	size_t r = REAL(__fread_unlocked_chk)(buf, cap, size, nmemb, f);

	if (r > 0)
		stream_read(f, buf, r * size);
	return r;
}

static inline int char_read(FILE *f, int c)
{
	if (c != EOF) {
		unsigned char b = (unsigned char)c;

		stream_read(f, &b, 1);
	}
	return c;
}

AGENT_EXPORT int fgetc(FILE *f)
{
	return char_read(f, REAL(fgetc)(f));
}

AGENT_EXPORT int getc(FILE *f)
{
	return char_read(f, REAL(getc)(f));
}
