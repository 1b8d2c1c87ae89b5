/*
 * out_stream.c - the per-thread cookie stream that feeds the line writer
 * (see out_stream.h). Its own TLS and thread key; freed at thread exit.
 *
 * Must never: write bytes a forked child inherited mid-format from another
 * thread (the parent writes them).
 */
#include <errno.h>
#include <pthread.h>

#include "agent/out.h"
#include "agent/out_stream.h"
#include "base/real.h"

struct sink {
	int fd;
	int err;
	out_stream_put put;       /* NULL: the line writer, on fd */
	void *arg;
};

static AGENT_TLS FILE *stream;
static AGENT_TLS struct sink sink;
static pthread_key_t stream_key;
static bool stream_key_ok;

static void stream_free(void *f)
{
	if (f) {
		agent_enter();
		REAL(fclose)(f);
		agent_leave();
	}
	stream = NULL;
}

/* At start-up (out_init): a pthread_once at the first long line made a
 * system call the program did not (its futex wake), which a seccomp
 * filter that allows only the program's own calls killed. */
void out_stream_init(void)
{
	stream_key_ok = pthread_key_create(&stream_key, stream_free) == 0;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct sink *s = cookie;

	/* Another thread's stream, inherited by a forked child in the middle
	 * of a long fprintf and flushed by the child's exit(): the parent
	 * writes those bytes, the child must not write them again. */
	if (s != &sink)
		return (ssize_t)n;
	if (s->err)
		return -1;
	if ((s->put ? s->put(s->arg, buf, n) : out_write_all(s->fd, buf, n)) < n) {
		s->err = errno ? errno : EIO;
		return -1;
	}
	return (ssize_t)n;
}

FILE *out_stream_begin(int fd)
{
	if (stream == NULL) {
		cookie_io_functions_t io = { NULL, sink_write, NULL, NULL };

		stream = fopencookie(&sink, "w", io);
		if (stream == NULL)
			return NULL;
		setvbuf(stream, NULL, _IOFBF, 4096);
		if (stream_key_ok)
			pthread_setspecific(stream_key, stream);
	}
	sink.fd = fd;
	sink.err = 0;
	sink.put = NULL;
	return stream;
}

FILE *out_stream_begin_put(out_stream_put put, void *arg)
{
	FILE *b = out_stream_begin(-1);

	if (b) {
		sink.put = put;
		sink.arg = arg;
	}
	return b;
}

int out_stream_end(FILE *b)
{
	int bad = REAL(fflush)(b) != 0 || ferror(b) || sink.err;
	int err = sink.err ? sink.err : EIO;

	clearerr(b);
	sink.err = 0;
	if (bad) {
		errno = err;
		return -1;
	}
	return 0;
}
