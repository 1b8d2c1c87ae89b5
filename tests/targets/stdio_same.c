/*
 * stdio_same - stdio reads and dprintf on the fds the agent follows (a
 * pipe, a socketpair, a file), printing to stdout what each call returned:
 * values, errno, the bytes, and how often a printf handler of the
 * program's own ran. tests/integration/t_stdio_same runs it with and
 * without the agent and compares stdout byte for byte: the agent's stdio
 * read hooks and its dprintf path must change nothing the program sees.
 * Run inside a request (take_request), so that a context is current and
 * the channels carry it.
 */
#include <errno.h>
#include <printf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

static int handler_calls;

static int print_tok(FILE *f, const struct printf_info *info, const void *const *args)
{
	(void)info;
	handler_calls++;
	return fprintf(f, "<%d>", *(const int *)args[0]);
}

static int tok_arginfo(const struct printf_info *info, size_t n, int *types, int *sizes)
{
	(void)info;
	if (n > 0) {
		types[0] = PA_INT;
		sizes[0] = sizeof(int);
	}
	return 1;
}

/* Writes a mix of lines, one with a NUL inside, and binary items. */
static void feed(int fd)
{
	static const char lines[] = "one\ntwo has\0a nul\nthree\n";
	unsigned char items[64];

	for (unsigned i = 0; i < sizeof items; i++)
		items[i] = (unsigned char)(i * 37);
	write_all(fd, lines, sizeof lines - 1);
	write_all(fd, (const char *)items, sizeof items);
	write_all(fd, "tail", 4);
}

static void read_all_ways(FILE *f, const char *what)
{
	char buf[16], *line = NULL;
	size_t cap = 0;
	unsigned char items[64];
	ssize_t n;
	size_t k;
	int c;

	errno = 0;
	printf("%s fgets %s", what, fgets(buf, sizeof buf, f) ? buf : "NULL\n");
	n = getline(&line, &cap, f);
	printf("%s getline %zd errno %d [", what, n, errno);
	fwrite(line, 1, n > 0 ? (size_t)n : 0, stdout);
	n = getdelim(&line, &cap, '\n', f);
	printf("] getdelim %zd [", n);
	fwrite(line, 1, n > 0 ? (size_t)n : 0, stdout);
	k = fread(items, 7, 9, f);
	printf("] fread %zu first %u\n", k, items[0]);
	c = fgetc(f);
	printf("%s fgetc %d getc %d\n", what, c, getc(f));
	k = fread(items, 3, 10, f);
	printf("%s fread at the end %zu eof %d errno %d\n", what, k, feof(f), errno);
	free(line);
}

int main(void)
{
	int p[2], sp[2], n = 0, r;
	FILE *f;
	char path[] = "/tmp/stdio_same.XXXXXX";
	int fd;

	take_request("stdio-same");
	if (register_printf_specifier('T', print_tok, tok_arginfo) != 0)
		die("register_printf_specifier");
	if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		die("pipe");
	feed(p[1]);
	close(p[1]);
	read_all_ways(fdopen(p[0], "r"), "pipe");
	feed(sp[0]);
	shutdown(sp[0], SHUT_WR);
	read_all_ways(fdopen(sp[1], "r"), "socketpair");
	if ((fd = mkstemp(path)) < 0)
		die("mkstemp");
	unlink(path);
	feed(fd);
	lseek(fd, 0, SEEK_SET);
	read_all_ways(fdopen(fd, "r"), "file");

	if (pipe(p))
		die("pipe");
	errno = 0;
	r = dprintf(p[1], "job %d%n %s\n", 7, &n, "x");
	printf("dprintf %d n %d", r, n);
	{
		/* A conversion of the program's own: unknown to the compiler. */
		const char *fmt = "%T\n";

		r = dprintf(p[1], fmt, 42);
		printf(" custom %d calls %d", r, handler_calls);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	{
		char buf[64];

		while (fgets(buf, sizeof buf, f))
			printf(" [%s]", strtok(buf, "\n"));
	}
	errno = 0;
	r = dprintf(-1, "x");
	printf(" bad fd %d errno %d\n", r, errno);
	return 0;
}
