/*
 * outputs.c - for t_outputs: REQCTX_TAG's outputs and php-fpm's stderr
 * control record. Run in directory DIR (its cwd). It accepts one
 * connection from itself whose request carries "X-Request-Id: out-1", so
 * that request is current, then writes one line to each output:
 *   DIR/app.log        open()               "app line"
 *   DIR/rel.log        open("rel.log")      "rel line" (relative to cwd)
 *   DIR/sub/rot-3.log  fopen() + fprintf    "rot line"
 *   DIR/sub/x.log      open()               "deep line"
 *   DIR/data.txt       creat()              "data line"
 *   DIR/app.log        a dup() of its fd    "dup line"
 *   stdout             printf, write(1)     "stdout printf", "stdout write"
 *                      and between them "mx 15 42": its literal bytes put
 *                      by an inlined putc_unlocked, its numbers by printf
 *   stderr, byte for byte:
 *     "half " \0fscf\0 "line\n"       (the record in the middle of a line)
 *     \0fscf\0 "next\n"               (at the start of a line)
 *     fwrite of \0fscf\0, then "stdio\n"
 *     \0fscf\0 alone at the end
 * Which of them carry "[out-1] " depends on REQCTX_TAG; the test knows.
 */
#include <fcntl.h>
#include <string.h>

#include "target.h"

static const char rec[6] = { 0, 'f', 's', 'c', 'f', 0 };

static void put(int fd, const char *s)
{
	write_all(fd, s, strlen(s));
}

static int must_open(const char *path, int flags)
{
	int fd = open(path, flags, 0644);

	if (fd < 0)
		die(path);
	return fd;
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: out-1\r\n\r\n";
	char buf[256];
	int l, c, s, fd;
	FILE *f;

	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("listen");
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	if (send_all(c, req, sizeof req - 1) < 0)
		die("send");
	s = accept(l, NULL, NULL);
	if (s < 0 || read(s, buf, sizeof buf) <= 0)
		die("accept");

	fd = must_open("app.log", O_WRONLY | O_CREAT | O_TRUNC);
	close(fd);
	fd = must_open(getenv("OUT_DIR_APP"), O_WRONLY | O_APPEND);   /* absolute */
	put(fd, "app line\n");
	l = dup(fd);
	close(fd);
	put(l, "dup line\n");
	close(l);
	fd = must_open("rel.log", O_WRONLY | O_CREAT | O_TRUNC);
	put(fd, "rel line\n");
	close(fd);
	f = fopen("sub/rot-3.log", "w");
	if (f == NULL)
		die("fopen");
	fprintf(f, "rot line %d\n", 3);
	fclose(f);
	fd = must_open("sub/x.log", O_WRONLY | O_CREAT | O_TRUNC);
	put(fd, "deep line\n");
	close(fd);
	fd = creat("data.txt", 0644);
	if (fd < 0)
		die("creat");
	put(fd, "data line\n");
	close(fd);

	printf("stdout printf\n");
	/* Literal text put into the stream's buffer by an inlined
	 * putc_unlocked around formatted pieces, as GNU stat -c writes. */
	__putc_unlocked_body('m', stdout);
	__putc_unlocked_body('x', stdout);
	__putc_unlocked_body(' ', stdout);
	printf("%d", 15);
	__putc_unlocked_body(' ', stdout);
	printf("%d\n", 42);
	fflush(stdout);
	put(1, "stdout write\n");

	put(2, "half ");
	write_all(2, rec, sizeof rec);
	put(2, "line\n");
	write_all(2, rec, sizeof rec);
	put(2, "next\n");
	fwrite(rec, 1, sizeof rec, stderr);
	fputs("stdio\n", stderr);
	write_all(2, rec, sizeof rec);
	close(s);
	close(c);
	return 0;
}
