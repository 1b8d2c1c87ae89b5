/*
 * test_out.c - the line writer against real pipes: one head per line,
 * pieces joined, multi-line writes, untagged lines untouched, exact counts
 * on a full non-blocking pipe, JSON lines, and what is held at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/buffered.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "base/id.h"
#include "agent/out.h"
#include "suites.h"

#define UNIT_SUITE out
#define UNIT_TCASE out

static struct config cfg;
static int p[2];

static void use(const char *output)
{
	char var[64];
	char *env[] = { var, NULL };

	snprintf(var, sizeof var, "REQCTX_OUTPUT=%s", output);
	config_load(&cfg, env, NULL, NULL);
	agent_config = &cfg;
	id_init();
	out_init();
	ck_assert_int_eq(pipe(p), 0);
}

static void enter(const char *id)
{
	struct ctx_seed seed = { .id = id, .id_len = id ? strlen(id) : 0 };

	ctx_take_current(id ? ctx_new(&seed) : NULL);
}

static ssize_t put(const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	return out_write(p[1], &v, 1, OUT_CALL_WRITE);
}

/* Everything in the pipe right now. */
static char *drain(void)
{
	static char buf[1 << 20];
	int fl = fcntl(p[0], F_GETFL);
	ssize_t n, total = 0;

	fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
	while ((n = read(p[0], buf + total, sizeof buf - 1 - (size_t)total)) > 0)
		total += n;
	fcntl(p[0], F_SETFL, fl);
	buf[total] = '\0';
	return buf;
}

/* The pipe's write end: one page of room, writes that would block fail. */
static void small_nonblocking_pipe(void)
{
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
}

UNIT_TEST(one_line)
{
	use("text");
	enter("r1");
	ck_assert_int_eq(put("hello\n"), 6);
	ck_assert_str_eq(drain(), "[r1] hello\n");
}

/* The batch rule's take log (take_report, take_wrote_after; behind
 * reqctx_api_took and reqctx_api_wrote_after): a take is written about
 * when the thread writes after it in its step, or in a later step that
 * is running now; a write in a step between (another task's) is not
 * the taker's; a take whose log was overwritten is unknown. */
UNIT_TEST(a_take_is_written_about_in_its_step_or_the_running_one)
{
	unsigned long long t1, t2, old;
	int i;

	use("text");
	enter("r1");
	step_entered();
	t1 = take_report();
	ck_assert_int_eq(take_wrote_after(t1), 0);
	ck_assert_int_eq(put("about the item\n"), 15);
	ck_assert_int_eq(take_wrote_after(t1), 1);

	/* Taken, the step ends with nothing written; another task's step
	 * writes; the taker's next step asks before it writes: no. */
	step_entered();
	t2 = take_report();
	step_entered();
	ck_assert_int_eq(put("another task\n"), 13);
	step_entered();
	ck_assert_int_eq(take_wrote_after(t2), 0);
	ck_assert_int_eq(put("its own\n"), 8);       /* this step: its own */
	ck_assert_int_eq(take_wrote_after(t2), 1);

	/* A write in the take's step before the take is not after it. */
	step_entered();
	ck_assert_int_eq(put("before\n"), 7);
	t2 = take_report();
	ck_assert_int_eq(take_wrote_after(t2), 0);

	/* TAKES_KEPT later takes: the log is gone. */
	old = t2;
	for (i = 0; i < TAKES_KEPT; i++)
		take_report();
	step_entered();
	ck_assert_int_eq(take_wrote_after(old), -1);
	ck_assert_int_eq(take_wrote_after(0), -1);
	(void)drain();
}

UNIT_TEST(pieces_make_one_line)
{
	use("text");
	enter("r2");
	ck_assert_int_eq(put("abc"), 3);
	ck_assert_str_eq(drain(), "");          /* held until the line ends */
	ck_assert(out_holding());
	ck_assert_int_eq(put("def"), 3);
	enter("other");                          /* the line keeps its first context */
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(drain(), "[r2] abcdef\n");
	ck_assert(!out_holding());
}

UNIT_TEST(many_pieces_one_write)
{
	struct iovec v[3] = { { "x/", 2 }, { "y/", 2 }, { "z", 1 } };

	use("text");
	enter("p");
	/* Byte by byte, and an unfinished tail spread over several iovecs:
	 * nothing reaches the pipe until the newline. */
	ck_assert_int_eq(put("a"), 1);
	ck_assert_int_eq(put("b"), 1);
	ck_assert_int_eq(out_write(p[1], v, 3, OUT_CALL_WRITEV), 5);
	ck_assert_int_eq(put("c"), 1);
	ck_assert_str_eq(drain(), "");
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(drain(), "[p] abx/y/zc\n");
}

UNIT_TEST(multi_line)
{
	struct iovec v[3] = { { "a\nb", 3 }, { "", 0 }, { "\nc\nd", 4 } };

	use("text");
	enter("m");
	ck_assert_int_eq(out_write(p[1], v, 3, OUT_CALL_WRITEV), 7);
	ck_assert_str_eq(drain(), "[m] a\n[m] b\n[m] c\n");
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(drain(), "[m] d\n");
}

UNIT_TEST(no_context_untouched)
{
	use("text");
	enter(NULL);
	ck_assert_int_eq(put("plain\nline"), 10);
	ck_assert_int_eq(put(" end\n"), 5);
	ck_assert_str_eq(drain(), "plain\nline end\n");
}

UNIT_TEST(held_bytes_flushed_at_end)
{
	use("text");
	enter("e");
	put("no newline");
	out_flush_all(true, false);
	ck_assert_str_eq(drain(), "[e] no newline");
	put(" more\n");                          /* same line: no second head */
	ck_assert_str_eq(drain(), " more\n");
}

/* A redirect of fd that failed (dup2 onto fd 2 with a bad source): the
 * line its flush ended goes on with no second head; a line ended by a
 * redirect that succeeded, or by the thread's own write since, stays
 * ended. */
UNIT_TEST(a_failed_redirect_continues_the_line)
{
	use("text");
	enter("d");
	put("abc");
	out_flush_fd(p[1]);                      /* before the dup2 */
	ck_assert_str_eq(drain(), "[d] abc");
	out_flush_fd_undo(p[1]);                 /* it failed */
	put("def\n");
	ck_assert_str_eq(drain(), "def\n");

	/* It succeeded: a later failed one elsewhere opens nothing. */
	put("ghi");
	out_flush_fd(p[1]);
	ck_assert_str_eq(drain(), "[d] ghi");
	out_flush_fd(p[1] + 100);                /* another fd's, which fails */
	out_flush_fd_undo(p[1] + 100);
	out_flush_fd_undo(p[1]);                 /* stale: a new flush ran */
	put("jkl\n");
	ck_assert_str_eq(drain(), "[d] jkl\n");

	/* The thread wrote a new line in between: that one stands. */
	put("mno");
	out_flush_fd(p[1]);
	enter("e");
	put("pqr");
	out_flush_fd_undo(p[1]);
	put("\n");
	ck_assert_str_eq(drain(), "[d] mno[e] pqr\n");
}

UNIT_TEST(long_line_bounded)
{
	size_t n = 3 * OUT_HOLD + 17;
	char *big = malloc(n + 2);
	struct iovec v = { big, n };
	char *got;

	use("text");
	enter("L");
	memset(big, 'z', n);
	big[n] = '\0';
	ck_assert_int_eq(out_write(p[1], &v, 1, OUT_CALL_WRITEV), (ssize_t)n);   /* too big to hold: written */
	ck_assert_int_eq(put("\n"), 1);
	got = drain();
	ck_assert_uint_eq(strlen(got), n + 5);
	ck_assert_int_eq(strncmp(got, "[L] zzz", 7), 0);
	ck_assert_int_eq(got[n + 4], '\n');
	free(big);
}

/* JSON, in a program with threads: a line too long to hold, sent in
 * rounds, goes out as closed objects (another thread's object would
 * otherwise land inside an open message between two rounds); its rest
 * is an object of its own, and a newline alone after it writes nothing
 * more. */
UNIT_TEST(json_long_unfinished_line_closed)
{
	size_t n = 2 * OUT_HOLD + 5;
	char *big = malloc(n + 1);
	char *got, *nl;
	int lines = 0;

	use("json");
	agent_threads_made = true;
	enter("L2");
	memset(big, 'z', n);
	big[n] = '\0';
	ck_assert_int_eq(put(big), (ssize_t)n);
	got = drain();
	/* every line one closed object of L2's: n bytes of z in all */
	for (char *l = got; (nl = strchr(l, '\n')) != NULL; l = nl + 1, lines++) {
		char *m = strstr(l, ",\"message\":\"");

		ck_assert_ptr_nonnull(strstr(l, "\"request_id\":\"L2\""));
		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(strncmp(nl - 2, "\"}", 2), 0);
		n -= (size_t)(nl - 2 - (m + 12));
	}
	ck_assert_int_ge(lines, 2);
	ck_assert_str_eq(got + strlen(got) - 1, "\n");
	/* the rest, held (a new object's start), ends with the next write */
	ck_assert_int_eq(put("tail\n"), 5);
	got = drain();
	ck_assert_ptr_nonnull(strstr(got, "\"request_id\":\"L2\""));
	nl = strstr(got, ",\"message\":\"");
	ck_assert_ptr_nonnull(nl);
	ck_assert_uint_eq(strspn(nl + 12, "z"), n);
	ck_assert_str_eq(nl + 12 + n, "tail\"}\n");
	n = 2 * OUT_HOLD + 5;
	ck_assert_int_eq(put(big), (ssize_t)n);
	(void)drain();
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(drain(), "");
	agent_threads_made = false;
	free(big);
}

UNIT_TEST(full_nonblocking_pipe_counts_exactly)
{
	enum { LINE = 10000 };
	char *line = malloc(LINE + 1), *got;
	size_t sent = 0, total = 0;
	int tries = 0;
	static char all[1 << 16];

	use("text");
	enter("nb");
	small_nonblocking_pipe();
	for (int i = 0; i < LINE; i++)
		line[i] = (char)('a' + i % 26);
	line[LINE - 1] = '\n';
	/* A program's usual loop: write what is left, drain, repeat. */
	while (sent < LINE && tries++ < 100) {
		struct iovec v = { line + sent, LINE - sent };
		ssize_t r = out_write(p[1], &v, 1, OUT_CALL_WRITE);

		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
		} else {
			ck_assert_int_gt(r, 0);
			ck_assert_uint_le((size_t)r, LINE - sent);
			sent += (size_t)r;
		}
		got = drain();
		memcpy(all + total, got, strlen(got));
		total += strlen(got);
	}
	ck_assert_uint_eq(sent, LINE);
	got = drain();
	memcpy(all + total, got, strlen(got));
	total += strlen(got);
	/* One head, then exactly the program's bytes. */
	ck_assert_uint_eq(total, LINE + 5);
	ck_assert_int_eq(memcmp(all, "[nb] ", 5), 0);
	ck_assert_int_eq(memcmp(all + 5, line, LINE), 0);
	free(line);
}

UNIT_TEST(full_pipe_small_write_is_eagain)
{
	char fill[4096];

	use("text");
	enter("x");
	small_nonblocking_pipe();
	memset(fill, '.', sizeof fill);
	ck_assert_int_eq(write(p[1], fill, sizeof fill - 4), (ssize_t)sizeof fill - 4);
	/* 4 bytes of room: the kernel refuses a 7-byte write whole, so must we. */
	errno = 0;
	ck_assert_int_eq(put("hello\n"), -1);
	ck_assert_int_eq(errno, EAGAIN);
	drain();
	ck_assert_int_eq(put("hello\n"), 6);
	ck_assert_str_eq(drain(), "[x] hello\n");
}

/* A regular file that takes `room` more bytes (RLIMIT_FSIZE: the kernel
 * then writes what fits and returns the short count), for a line cut at
 * a place of the test's choosing. The limit holds for every file the
 * process writes, the test framework's own included: lift_limit() before
 * any assertion. Returns its fd. */
static int file_with_room(size_t room)
{
	char path[] = "/tmp/reqctx-out-XXXXXX", fill[64];
	struct rlimit lim;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	signal(SIGXFSZ, SIG_IGN);
	memset(fill, '.', sizeof fill);
	ck_assert_int_eq(write(fd, fill, sizeof fill), (ssize_t)sizeof fill);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur = 64 + room;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	return fd;
}

/* What follows the file's first 64 bytes, once the limit is lifted. */
static const char *file_text(int fd)
{
	static char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 64);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static void lift_limit(void)
{
	struct rlimit lim;

	getrlimit(RLIMIT_FSIZE, &lim);
	lim.rlim_cur = lim.rlim_max;
	setrlimit(RLIMIT_FSIZE, &lim);
}

static ssize_t put_fd(int fd, const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	return out_write(fd, &v, 1, OUT_CALL_WRITE);
}

/* The kernel takes the head and part of the line: the program is told
 * the part of its line that went out, and the rest follows with no
 * second head. */
UNIT_TEST(a_line_cut_after_its_head_counts_its_own_bytes)
{
	int fd;
	ssize_t r;

	use("text");
	enter("x");
	fd = file_with_room(6);     /* "[x] " and "he" */
	r = put_fd(fd, "hello world\n");
	lift_limit();
	ck_assert_int_eq(r, 2);
	ck_assert_int_eq(put_fd(fd, "llo world\n"), 10);
	ck_assert_int_eq(put_fd(fd, "again\n"), 6);
	ck_assert_str_eq(file_text(fd), "[x] hello world\n[x] again\n");
	close(fd);
}

/* The kernel takes part of the head only: none of the program's bytes
 * went out, which it is told as EAGAIN; the rest of the head goes first
 * next time. */
UNIT_TEST(a_line_cut_in_its_head_is_eagain)
{
	int fd, err;
	ssize_t r;

	use("text");
	enter("xyz");
	fd = file_with_room(3);     /* "[xy" */
	errno = 0;
	r = put_fd(fd, "hello\n");
	err = errno;
	lift_limit();
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(err, EAGAIN);
	ck_assert_int_eq(put_fd(fd, "hello\n"), 6);
	ck_assert_str_eq(file_text(fd), "[xyz] hello\n");
	close(fd);
}

static ssize_t putv_fd(int fd, const char *a, const char *b)
{
	struct iovec v[2] = { { (void *)a, strlen(a) }, { (void *)b, strlen(b) } };

	return out_write(fd, v, 2, OUT_CALL_WRITEV);
}

/* A line a writev sends in pieces, as HAProxy sends its log lines: one
 * head; cut by the kernel in its second piece, the program is told what of
 * its own bytes went out, and the rest follows with no second head. */
UNIT_TEST(a_writev_line_in_pieces_gets_one_head_and_exact_counts)
{
	int fd;
	ssize_t r;

	use("text");
	enter("v");
	ck_assert_int_eq(putv_fd(p[1], "<134>abc ", "def\n"), 13);
	ck_assert_str_eq(drain(), "[v] <134>abc def\n");
	fd = file_with_room(10);    /* "[v] ", "<134>a" */
	r = putv_fd(fd, "<134>abc ", "def\n");
	lift_limit();
	ck_assert_int_eq(r, 6);
	ck_assert_int_eq(putv_fd(fd, "bc ", "def\n"), 7);
	ck_assert_int_eq(putv_fd(fd, "gh", "i\n"), 4);
	ck_assert_str_eq(file_text(fd), "[v] <134>abc def\n[v] ghi\n");
	close(fd);
	/* Cut where its first piece ends: the line is still open. */
	fd = file_with_room(13);    /* "[v] ", "<134>abc " */
	r = putv_fd(fd, "<134>abc ", "def\n");
	lift_limit();
	ck_assert_int_eq(r, 9);
	ck_assert_int_eq(putv_fd(fd, "d", "ef\n"), 4);
	ck_assert_str_eq(file_text(fd), "[v] <134>abc def\n");
	close(fd);
}

UNIT_TEST(broken_pipe_reports_error)
{
	use("text");
	enter("b");
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	ck_assert_int_eq(put("lost\n"), -1);
	ck_assert_int_eq(errno, EPIPE);
}

UNIT_TEST(json_lines)
{
	use("json");
	enter("j1");
	ck_assert_int_eq(put("say \"hi\"\tnow"), 12);
	ck_assert_int_eq(put("\n"), 1);
	char *got = drain();
	ck_assert_ptr_nonnull(strstr(got, "\"request_id\":\"j1\""));
	ck_assert_ptr_nonnull(strstr(got, ",\"message\":\"say \\\"hi\\\"\\tnow\"}\n"));
	ck_assert_ptr_eq(strchr(got, '\n'), got + strlen(got) - 1);
}

/* The line written, with our head up to "tid":N cut off: what follows. */
static const char *after_tid(const char *got)
{
	static char want[64];
	const char *t;

	snprintf(want, sizeof want, ",\"tid\":%d", (int)gettid());
	t = strstr(got, want);
	ck_assert_ptr_nonnull(t);
	return t + strlen(want);
}

UNIT_TEST(json_object_line_merged)
{
	use("json");
	enter("m1");
	ck_assert_int_eq(put("{\"level\":30,\"msg\":\"hi\"}\n"), 24);
	char *got = drain();
	ck_assert_int_eq(strncmp(got, "{\"time\":\"", 9), 0);
	ck_assert_ptr_nonnull(strstr(got, "\"request_id\":\"m1\""));
	ck_assert_str_eq(after_tid(got), ",\"level\":30,\"msg\":\"hi\"}\n");
	ck_assert_ptr_null(strstr(got, "\"message\""));
}

UNIT_TEST(json_object_in_pieces)
{
	use("json");
	enter("m2");
	ck_assert_int_eq(put("  {\"a\":"), 7);
	ck_assert_int_eq(put("1}"), 2);
	ck_assert_str_eq(drain(), "");            /* held, no system call */
	ck_assert_int_eq(put("\n"), 1);
	char *got = drain();
	ck_assert_ptr_nonnull(strstr(got, "\"request_id\":\"m2\""));
	ck_assert_str_eq(after_tid(got), ",\"a\":1}\n");
	/* Python's print: the text, then "\n"; and a second line after. */
	ck_assert_int_eq(put("{\"b\":[1,2]}"), 11);
	ck_assert_int_eq(put("\n{\"c\":3}\nplain\n"), 15);
	got = drain();
	ck_assert_int_eq(strncmp(after_tid(got), ",\"b\":[1,2]}\n{\"time\":", 17), 0);
	ck_assert_ptr_nonnull(strstr(got, ",\"c\":3}\n{\"time\":"));
	ck_assert_ptr_nonnull(strstr(got, ",\"message\":\"plain\"}\n"));
	ck_assert_ptr_eq(strchr(strchr(strchr(got, '\n') + 1, '\n') + 1, '\n'), got + strlen(got) - 1);
}

/* Python's print of an object, its newline in a second write, and the
 * thread blocks in between (the GIL): the held object goes out at the
 * block merged, as the newline would have sent it, and the newline then
 * writes nothing more. A held line that is no object goes quoted. */
UNIT_TEST(json_object_held_across_a_block_merged)
{
	use("json");
	enter("m5");
	ck_assert_int_eq(put("{\"level\":30,\"msg\":\"hi\"}"), 23);
	ck_assert_str_eq(drain(), "");
	out_flush_thread();
	char *got = drain();
	ck_assert_ptr_nonnull(strstr(got, "\"request_id\":\"m5\""));
	ck_assert_str_eq(after_tid(got), ",\"level\":30,\"msg\":\"hi\"}\n");
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(drain(), "");
	/* the newline and the next line in one write: that line only */
	ck_assert_int_eq(put("{\"b\":2}"), 7);
	out_flush_thread();
	(void)drain();
	ck_assert_int_eq(put("\nnext\n"), 6);
	got = drain();
	ck_assert_str_eq(after_tid(got), ",\"message\":\"next\"}\n");
	ck_assert_int_eq(put("{\"open\":"), 8);
	out_flush_thread();
	got = drain();
	ck_assert_ptr_nonnull(strstr(got, ",\"message\":\"{\\\"open\\\":\"}\n"));
	ck_assert_int_eq(put("1}\n"), 3);
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"1}\"}\n"));
}

UNIT_TEST(json_object_empty)
{
	use("json");
	enter("m3");
	ck_assert_int_eq(put("{}\n"), 3);
	char *got = drain();
	ck_assert_str_eq(after_tid(got), "}\n");
	ck_assert_int_eq(put("{ }\r\n"), 5);
	got = drain();
	ck_assert_str_eq(after_tid(got), " }\r\n");
}

UNIT_TEST(json_object_with_our_keys)
{
	use("json");
	enter("m4");
	ck_assert_int_eq(put("{\"request_id\":\"x\",\"time\":1,\"pid\":2,\"n\":{\"tid\":3}}\n"), 50);
	char *got = drain();
	ck_assert_ptr_nonnull(strstr(got, "{\"reqctx.time\":\""));
	ck_assert_ptr_nonnull(strstr(got, ",\"reqctx.request_id\":\"m4\""));
	ck_assert_ptr_nonnull(strstr(got, ",\"trace_id\":"));
	ck_assert_ptr_nonnull(strstr(got, ",\"reqctx.pid\":"));
	ck_assert_ptr_nonnull(strstr(got, ",\"tid\":"));        /* only nested: no clash */
	ck_assert_ptr_nonnull(strstr(got, ",\"request_id\":\"x\",\"time\":1,\"pid\":2,\"n\":{\"tid\":3}}\n"));
}

UNIT_TEST(json_not_object_quoted)
{
	use("json");
	enter("m5");
	ck_assert_int_eq(put("{\"a\":1} and more\n"), 17);
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":1} and more\"}\n"));
	ck_assert_int_eq(put("{\"a\":1\n"), 7);
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":1\"}\n"));
	ck_assert_int_eq(put("{\"a\":\"\x01\"}\n"), 10);       /* raw control byte */
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":\\\"\\u0001\\\"}\"}\n"));
	ck_assert_int_eq(put("{\"a\":1}}\n"), 9);               /* unbalanced */
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":1}}\"}\n"));
	ck_assert_int_eq(put("{\"a\":"), 5);                    /* held, then not */
	ck_assert_int_eq(put("1 x\n"), 4);
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":1 x\"}\n"));
}

UNIT_TEST(json_object_nested_braces_in_strings)
{
	const char *line = "{\"a\":{\"b\":\"}{\"},\"c\":[1,{\"d\":\"\\\"}\"}],\"e\":\"\\\\\"}\n";

	use("json");
	enter("m6");
	ck_assert_int_eq(put(line), (ssize_t)strlen(line));
	char *got = drain();
	ck_assert_int_eq(after_tid(got)[0], ',');
	ck_assert_str_eq(after_tid(got) + 1, line + 1);
}

UNIT_TEST(json_object_too_long_quoted)
{
	static char big[OUT_HOLD + 64];

	use("json");
	enter("m7");
	memset(big, 'x', sizeof big);
	memcpy(big, "{\"a\":\"", 6);
	memcpy(big + sizeof big - 4, "\"}\n", 3);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(put(big), (ssize_t)strlen(big));
	ck_assert_ptr_nonnull(strstr(drain(), ",\"message\":\"{\\\"a\\\":\\\"xxx"));
}

UNIT_TEST(json_object_full_pipe_retried)
{
	char fill[4096];

	use("json");
	enter("nbj");
	small_nonblocking_pipe();
	memset(fill, '.', sizeof fill);
	ck_assert_int_eq(write(p[1], fill, sizeof fill), (ssize_t)sizeof fill);
	errno = 0;
	ck_assert_int_eq(put("{\"a\":1}\n"), -1);     /* refused whole, as the kernel would */
	ck_assert_int_eq(errno, EAGAIN);
	drain();
	ck_assert_int_eq(put("{\"a\":1}\n"), 8);
	ck_assert_str_eq(after_tid(drain()), ",\"a\":1}\n");
	/* The held start of an object line survives a refused end. */
	ck_assert_int_eq(put("{\"b\":2}"), 7);
	ck_assert_int_eq(write(p[1], fill, sizeof fill), (ssize_t)sizeof fill);
	errno = 0;
	ck_assert_int_eq(put("\n"), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(drain()[0], '.');
	ck_assert_int_eq(put("\n"), 1);
	ck_assert_str_eq(after_tid(drain()), ",\"b\":2}\n");
}

UNIT_TEST(json_object_lines_in_one_big_write)
{
	enum { LINES = 40 };
	static char buf[LINES * 700 + 64], want[800];
	size_t o = 0;
	char *got, *q;

	use("json");
	enter("m8");
	for (int i = 0; i < LINES; i++) {
		char pad[601];

		memset(pad, 'p', 600);
		pad[600] = '\0';
		o += (size_t)sprintf(buf + o, "{\"i\":%d,\"pad\":\"%s\"}\n", i, pad);
	}
	o += (size_t)sprintf(buf + o, "{\"last\":");          /* held, merged later */
	ck_assert_int_eq(put(buf), (ssize_t)o);
	ck_assert_int_eq(put("true}\n"), 6);
	got = drain();
	q = got;
	for (int i = 0; i < LINES; i++) {
		snprintf(want, sizeof want, ",\"i\":%d,\"pad\":\"", i);
		q = strstr(q, want);
		ck_assert_msg(q != NULL, "line %d not merged", i);
	}
	ck_assert_ptr_null(strstr(got, "\"message\""));
	ck_assert_ptr_nonnull(strstr(q, ",\"last\":true}\n"));
}

/* Random lines in random pieces: every line comes out once, merged exactly
 * when it is an object line that fits, and gives back the program's bytes. */
UNIT_TEST(json_object_lines_random_pieces)
{
	static const struct { const char *text; bool merged; } kinds[] = {
		{ "{\"a\":1,\"s\":\"x}{y\"}", true },
		{ "{}", true },
		{ "{\"request_id\":\"z\",\"n\":[1,{\"b\":\"]\"}]}", true },
		{ "{\"q\":\"say \\\"hi\\\"\"}", true },
		{ "{\"a\":1} tail", false },
		{ "plain text", false },
		{ "{\"a\":", false },
		{ "{\"a\":\"}\"", false },
		{ NULL, false },                      /* long: quoted */
	};
	enum { NK = sizeof kinds / sizeof kinds[0], LINES = 400 };
	static char in[LINES * 6000], out[LINES * 7000], longline[5001];
	int which[LINES];
	size_t n = 0, o = 0;
	unsigned seed = 12345;

	memset(longline, 'L', 5000);
	memcpy(longline, "{\"l\":\"", 6);
	memcpy(longline + 4998, "\"}", 2);
	use("json");
	enter("rnd");
	for (int i = 0; i < LINES; i++) {
		const char *t;

		seed = seed * 1103515245 + 12345;
		which[i] = (int)((seed >> 16) % NK);
		t = kinds[which[i]].text ? kinds[which[i]].text : longline;
		memcpy(in + n, t, strlen(t));
		n += strlen(t);
		in[n++] = '\n';
	}
	for (size_t at = 0; at < n;) {
		size_t len;
		struct iovec v;
		char *got;

		seed = seed * 1103515245 + 12345;
		len = 1 + (seed >> 16) % ((seed >> 8 & 1) ? 40 : 3000);
		if (len > n - at)
			len = n - at;
		v = (struct iovec){ in + at, len };
		ck_assert_int_eq(out_write(p[1], &v, 1, OUT_CALL_WRITE), (ssize_t)len);
		at += len;
		got = drain();
		memcpy(out + o, got, strlen(got));
		o += strlen(got);
	}
	out[o] = '\0';
	/* Each output line: our head, then the program's line merged or quoted. */
	char *line = out;
	for (int i = 0; i < LINES; i++) {
		const char *t = kinds[which[i]].text ? kinds[which[i]].text : longline;
		char *end = strchr(line, '\n'), *a, back[6000];
		size_t b = 0;

		ck_assert_msg(end != NULL, "line %d missing", i);
		*end = '\0';
		a = (char *)after_tid(line);
		if (strncmp(a, ",\"message\":\"", 12) == 0) {
			ck_assert_msg(!kinds[which[i]].merged, "line %d (%s) quoted", i, t);
			for (a += 12; a < end - 2; a++) {
				if (*a == '\\')
					a++;
				back[b++] = *a;
			}
			ck_assert_str_eq(end - 2, "\"}");
		} else {
			ck_assert_msg(kinds[which[i]].merged, "line %d (%s) merged", i, t);
			back[b++] = '{';
			if (*a == ',')
				a++;
			memcpy(back + b, a, (size_t)(end - a));
			b += (size_t)(end - a);
		}
		back[b] = '\0';
		ck_assert_str_eq(back, t);
		line = end + 1;
	}
	ck_assert_str_eq(line, "");
}

/* agent/buffered.h: lines other threads (here: other contexts) reported
 * putting into a buffer that this thread writes out. p[1] is made a log,
 * as the fd-table events make stderr one. */
static void buffered_log(void)
{
	struct fdslot *s = fdmap_slot(p[1]);

	ck_assert_ptr_nonnull(s);
	__atomic_store_n(&s->kind, (uint8_t)FD_OUTPUT, __ATOMIC_RELEASE);
	buffered_after_fork_child();          /* no record left by another test */
}

static void reported(const char *id, const char *chunk)
{
	enter(id);
	buffered_put(p[1], chunk, strlen(chunk));
}

UNIT_TEST(a_line_another_request_put_in_carries_its_id)
{
	use("text");
	buffered_log();
	reported("r1", "from r1\n");
	enter("r2");
	ck_assert_int_eq(put("from r1\nown r2\n"), 15);
	ck_assert_str_eq(drain(), "[r1] from r1\n[r2] own r2\n");
	ck_assert_int_eq(buffered_live, 0);
}

UNIT_TEST(a_line_put_in_as_text_then_newline_is_one_line)
{
	use("text");
	buffered_log();
	reported("r1", "site=print");
	buffered_put(p[1], "\n", 1);
	reported("r3", "other\n");
	enter("r2");
	ck_assert_int_eq(put("site=print\nother\n"), 17);
	ck_assert_str_eq(drain(), "[r1] site=print\n[r3] other\n");
}

UNIT_TEST(one_line_reported_by_two_requests_carries_nothing)
{
	use("text");
	buffered_log();
	reported("r1", "done\n");
	reported("r2", "done\n");
	enter("r3");
	ck_assert_int_eq(put("done\ndone\n"), 10);
	ck_assert_str_eq(drain(), "done\ndone\n");
	ck_assert_int_eq(buffered_live, 0);
}

UNIT_TEST(an_unreported_line_while_reports_are_pending)
{
	use("text");
	buffered_log();
	reported("r1", "a\nb\ncut by the buffer's edge\n");
	enter("r2");
	/* among reported lines, or cut: whose it is cannot be told */
	ck_assert_int_eq(put("a\nx\nb\ncut"), 9);
	ck_assert_int_eq(put("\n"), 1);
	/* a whole write of one line is the writer's own (uWSGI's request log) */
	ck_assert_int_eq(put("own\n"), 4);
	ck_assert_str_eq(drain(), "[r1] a\nx\n[r1] b\ncut\n[r2] own\n");
}

UNIT_TEST(a_fd_that_is_no_log_records_nothing)
{
	use("text");
	buffered_after_fork_child();
	enter("r1");
	buffered_put(p[0], "x\n", 2);
	ck_assert_int_eq(buffered_live, 0);
}

UNIT_TEST(a_report_taken_back_names_nothing)
{
	use("text");
	buffered_log();
	reported("r1", "closed stream\n");   /* and the runtime's write raised */
	buffered_retract();
	enter("r2");
	ck_assert_int_eq(put("closed stream\n"), 14);
	ck_assert_str_eq(drain(), "[r2] closed stream\n");
}

UNIT_TEST(a_record_overwritten_before_its_line_leaves_its_line_ambiguous)
{
	char line[32];

	use("text");
	buffered_log();
	reported("r1", "tick\n");
	enter("r2");
	for (int i = 0; i < BUFFERED_RECS - 1; i++) {
		snprintf(line, sizeof line, "line %d\n", i);
		buffered_put(p[1], line, strlen(line));
	}
	reported("r3", "tick\n");          /* takes r1's slot */
	enter("r4");
	/* r1's tick may come first: neither may be taken for the other */
	ck_assert_int_eq(put("tick\nline 0\n"), 12);
	ck_assert_str_eq(drain(), "tick\n[r2] line 0\n");
}

UNIT_TEST(a_record_long_unused_names_no_later_line)
{
	char line[80];

	use("text");
	buffered_log();
	reported("r1", "same line\n");       /* its line went out cut, unrecognised */
	enter("r2");
	for (int i = 0; i < 1000; i++) {      /* 70 KB reported since, 1,000 records */
		snprintf(line, sizeof line, "%068d\n", i);
		buffered_put(p[1], line, strlen(line));
	}
	enter("r3");
	/* r3's own write of the same bytes is r3's */
	ck_assert_int_eq(put("same line\n"), 10);
	ck_assert_str_eq(drain(), "[r3] same line\n");
}

UNIT_TEST(a_stdio_line_is_the_threads_own)
{
	use("text");
	buffered_log();
	reported("r1", "same line\n");       /* pending in a runtime's buffer */
	enter("r2");
	ck_assert_uint_eq(out_write_all(p[1], "same line\n", 10), 10);
	ck_assert_str_eq(drain(), "[r2] same line\n");
	ck_assert_int_eq(buffered_live, 1);  /* r1's line still to come */
}

Suite *out_suite(void)
{
	Suite *s = suite_create("out");
	TCase *t = unit_tcase("out", "out");

	suite_add_tcase(s, t);
	return s;
}
