/*
 * stdio_buffered - a program inside a request writing through stdio
 * streams that have a buffer of their own, mixed with direct writes to the
 * same fd (tests/integration/t_stdio_buffered). With an empty prefix
 * (REQCTX_FORMAT=) its stdout and stderr must be the bytes of a run
 * without the agent; with the default prefix each line names the request.
 *
 *   stdio_buffered MODE
 *
 * MODE:
 *   full    stderr fully buffered (setvbuf, a 256-byte buffer): three
 *           lines by fputs, fprintf and fwrite, a write(2) after them,
 *           then fflush; then more lines than the buffer holds
 *   line    stderr line buffered: a line begun by fputs, a write(2) in
 *           its middle, its end by fputs
 *   exit    stderr fully buffered: a line by fputs, then _exit (the line
 *           is never written)
 *   fork    a stream fully buffered on a dup of fd 2: a line by fputs,
 *           then fork; both processes exit (the line is written twice)
 *   stdout  stdout (REQCTX_TAG=stdout; a pipe: fully buffered) by printf
 *           and puts, a write(1) between them, then exit
 *   devfullclose
 *           /dev/full opened with fopen (a log by REQCTX_TAG), fully
 *           buffered, a line put by inlined putc_unlocked, then fclose: its
 *           result and errno on stdout (the buffer's flush fails)
 *   reopenout
 *           freopen of stdout onto the file named by STDIO_BUFFERED_FILE
 *           (REQCTX_TAG=stdout makes fd 1 a log)
 *   reopen  freopen of stderr onto the file named by STDIO_BUFFERED_FILE
 *           (fully buffered), a line by fputs, a write(2), fclose
 *   long    stderr fully buffered: an fprintf longer than the agent's
 *           stack buffer (6000 bytes in three lines), fflush, a write(2)
 *   closerange, closefrom
 *           not stdio: an unfinished line by write(2), then fd 2 closed
 *           by close_range(2, 2, 0) or closefrom(2) (the agent holds the
 *           line; it must go out before the fd closes)
 *   heldseek
 *           not stdio: fd 2 on the file STDIO_BUFFERED_FILE names, an
 *           unfinished line by write(2), lseek to 0, "X\n" written over
 *           its start, then ftruncate to 16 bytes and fsync (the held
 *           line must be in the file before the lseek)
 *   heldsplice
 *           not stdio: an unfinished line by write(2), then bytes moved
 *           from a pipe to fd 2 by splice, then the line's end (the held
 *           bytes must go before the spliced ones)
 *   putcthreads
 *           a log on STDIO_BUFFERED_FILE, fully buffered, shared by two
 *           threads in two requests (buffered-1, buffered-2): the first
 *           writes a line by fputs, then one by inlined putc_unlocked; the
 *           second then a line by fputs (the putc line is the first
 *           request's: it must not take the second's head)
 *   putcother
 *           the same log and threads: the first writes a line by fputs,
 *           the second a line by inlined putc_unlocked, then the first
 *           another by fputs (the putc line, which the agent does not see
 *           put, followed the first thread's last line: it must not take
 *           that thread's head)
 *   devfull /dev/full opened with fopen (REQCTX_TAG=/dev/full makes it a
 *           log), line then fully buffered: fwrite, fprintf, fputs, fputc,
 *           fflush; their results and errno on stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target.h"

static const char *const modes[] = { "full", "line", "exit", "fork", "stdout", "reopen", "long",
				      "closerange", "closefrom", "heldseek", "heldsplice", "devfull",
				      "putcthreads", "putcother", "reopenout", "devfullclose" };

static FILE *shared_log;

static void *second_request(void *arg)
{
	(void)arg;
	take_request("buffered-2");
	fputs("fputs line buffered-2\n", shared_log);
	return NULL;
}

static void *second_putc(void *arg)
{
	static const char body[] = "putc line buffered-2\n";

	(void)arg;
	take_request("buffered-2");
	flockfile(shared_log);
	for (const char *c = body; *c; c++)
		putc_unlocked(*c, shared_log);
	funlockfile(shared_log);
	return NULL;
}

static void put_direct(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		exit(3);
}

int main(int argc, char **argv)
{
	static char buf[256];
	int mode;

	if (argc != 2)
		return 2;
	mode = pick_mode(argv[1], modes, (int)(sizeof modes / sizeof modes[0]));
	take_request("buffered-1");
	switch (mode) {
	case 0:
		setvbuf(stderr, buf, _IOFBF, sizeof buf);
		fputs("first line buffered-1\n", stderr);
		fprintf(stderr, "second line %s\n", "buffered-1");
		fwrite("third line buffered-1\n", 1, 22, stderr);
		put_direct(2, "direct line buffered-1\n");
		fflush(stderr);
		for (int i = 0; i < 40; i++)
			fprintf(stderr, "more %d buffered-1\n", i);
		break;
	case 1:
		setvbuf(stderr, NULL, _IOLBF, 0);
		fputs("begun ", stderr);
		put_direct(2, "direct line buffered-1\n");
		fputs("ended buffered-1\n", stderr);
		break;
	case 2:
		setvbuf(stderr, buf, _IOFBF, sizeof buf);
		fputs("dropped by _exit buffered-1\n", stderr);
		put_direct(2, "direct line buffered-1\n");
		_exit(0);
	case 3: {
		FILE *f = fdopen(dup(2), "w");
		int st;
		pid_t p;

		if (f == NULL)
			return 2;
		fputs("before fork buffered-1\n", f);
		p = fork();
		if (p < 0)
			return 2;
		if (p == 0)
			return 0;
		waitpid(p, &st, 0);
		break;
	}
	case 4:
		printf("printf line %s\n", "buffered-1");
		put_direct(1, "direct line buffered-1\n");
		puts("puts line buffered-1");
		break;
	case 5: {
		const char *path = getenv("STDIO_BUFFERED_FILE");

		if (path == NULL || freopen(path, "w", stderr) == NULL)
			return 2;
		fputs("stdio line buffered-1\n", stderr);
		put_direct(2, "direct line buffered-1\n");
		fclose(stderr);
		break;
	}
	case 6: {
		char big[2001];

		setvbuf(stderr, NULL, _IOFBF, 8192);
		memset(big, 'x', 2000);
		big[2000] = '\0';
		fprintf(stderr, "%s buffered-1\n%s buffered-1\n%s buffered-1\n", big, big, big);
		fflush(stderr);
		put_direct(2, "direct line buffered-1\n");
		break;
	}
	case 7:
	case 8:
		put_direct(2, "unfinished line buffered-1");
		if (mode == 7)
			close_range(2, 2, 0);
		else
			closefrom(2);
		break;
	case 9: {
		const char *path = getenv("STDIO_BUFFERED_FILE");
		int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

		if (fd < 0 || dup2(fd, 2) != 2)
			return 2;
		close(fd);
		put_direct(2, "unfinished line buffered-1");
		lseek(2, 0, SEEK_SET);
		put_direct(2, "X\n");
		if (ftruncate(2, 16) != 0 || fsync(2) != 0)
			return 3;
		break;
	}
	case 10: {
		static const char moved[] = "spliced buffered-1\n";
		int p[2];

		if (pipe(p) != 0 || write(p[1], moved, sizeof moved - 1) != (ssize_t)sizeof moved - 1)
			return 2;
		put_direct(2, "unfinished line buffered-1 ");
		if (splice(p[0], NULL, 2, NULL, sizeof moved - 1, 0) != (ssize_t)sizeof moved - 1)
			return 3;
		put_direct(2, "end\n");
		break;
	}
	case 11:
		for (int lb = 1; lb >= 0; lb--) {
			static char lines[3000];
			FILE *f = fopen("/dev/full", "w");
			int k;
			size_t w;

			if (f == NULL)
				return 2;
			for (size_t i = 0; i < sizeof lines; i++)
				lines[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
			setvbuf(f, NULL, lb ? _IOLBF : _IOFBF, 1024);
			errno = 0;
			w = fwrite(lines, 1, 150, f);
			printf("fwrite 150: %zu errno %d ferror %d\n", w, errno, ferror(f));
			clearerr(f);
			errno = 0;
			w = fwrite(lines, 1, sizeof lines, f);
			printf("fwrite %zu: %zu errno %d\n", sizeof lines, w, errno);
			errno = 0;
			k = fprintf(f, "%s buffered-1\n", "one");
			printf("fprintf: %d errno %d\n", k, errno);
			errno = 0;
			k = fputs("two buffered-1\nthree", f);
			printf("fputs: %d errno %d\n", k, errno);
			errno = 0;
			k = fputc('\n', f);
			printf("fputc: %d errno %d\n", k, errno);
			errno = 0;
			k = fflush(f);
			printf("fflush: %d errno %d\n", k, errno);
			fclose(f);
		}
		break;
	case 12: {
		const char *path = getenv("STDIO_BUFFERED_FILE");
		static const char body[] = "putc line buffered-1\n";
		pthread_t t;

		shared_log = path ? fopen(path, "w") : NULL;
		if (shared_log == NULL)
			return 2;
		fputs("fputs line buffered-1\n", shared_log);
		flockfile(shared_log);
		for (const char *c = body; *c; c++)
			putc_unlocked(*c, shared_log);
		funlockfile(shared_log);
		if (pthread_create(&t, NULL, second_request, NULL) != 0 || pthread_join(t, NULL) != 0)
			return 2;
		fclose(shared_log);
		break;
	}
	case 13: {
		const char *path = getenv("STDIO_BUFFERED_FILE");
		pthread_t t;

		shared_log = path ? fopen(path, "w") : NULL;
		if (shared_log == NULL)
			return 2;
		fputs("fputs line buffered-1\n", shared_log);
		if (pthread_create(&t, NULL, second_putc, NULL) != 0 || pthread_join(t, NULL) != 0)
			return 2;
		fputs("fputs again buffered-1\n", shared_log);
		fclose(shared_log);
		break;
	}
	case 14: {
		const char *path = getenv("STDIO_BUFFERED_FILE");

		if (path == NULL || freopen(path, "w", stdout) == NULL)
			return 2;
		printf("stdio line buffered-1\n");
		fflush(stdout);
		put_direct(1, "direct line buffered-1\n");
		fclose(stdout);
		break;
	}
	case 15: {
		static const char body[] = "putc line buffered-1\n";
		FILE *f = fopen("/dev/full", "w");
		int k;

		if (f == NULL)
			return 2;
		setvbuf(f, NULL, _IOFBF, 1024);
		flockfile(f);
		for (const char *c = body; *c; c++)
			putc_unlocked(*c, f);
		funlockfile(f);
		errno = 0;
		k = fclose(f);
		printf("fclose: %d errno %d\n", k, errno);
		break;
	}
	}
	return 0;
}
