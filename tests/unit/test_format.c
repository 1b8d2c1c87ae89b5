/*
 * test_format.c - prefix rendering from REQCTX_FORMAT, the JSON head, the
 * JSON string escape (lossless for any byte), and RFC 3339 time.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "base/ctx.h"
#include "agent/format.h"
#include "base/id.h"
#include "suites.h"

#define UNIT_SUITE format
#define UNIT_TCASE format

extern pid_t agent_pid;

static struct ctx *make_ctx(const char *id)
{
	struct ctx_seed seed = { .id = id, .id_len = strlen(id), .trace_id = "0af7651916cd43dd8448eb211c80319c", .trace_flags = 1 };

	id_init();
	return ctx_new(&seed);
}

static size_t render(const char *fmt, const struct ctx *c, char *out)
{
	struct config cfg;
	char var[300];
	char *env[] = { var, NULL };

	snprintf(var, sizeof var, "REQCTX_FORMAT=%s", fmt);
	config_load(&cfg, env, NULL, NULL);
	size_t n = fmt_head(out, FMT_HEAD_MAX, &cfg, c);
	out[n] = '\0';
	return n;
}

UNIT_TEST(text_prefix)
{
	struct ctx *c = make_ctx("req-1");
	char out[FMT_HEAD_MAX + 1], want[200];

	agent_pid = 4242;
	render("[%i] ", c, out);
	ck_assert_str_eq(out, "[req-1] ");
	render("%t/%s %% ", c, out);
	snprintf(want, sizeof want, "0af7651916cd43dd8448eb211c80319c/%s %% ", c->span_id);
	ck_assert_str_eq(out, want);
	render("<%p:%T>", c, out);
	snprintf(want, sizeof want, "<4242:%d>", (int)gettid());
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(render("[%i] ", NULL, out), 0);   /* no context: nothing */
	ctx_put(c);
}

UNIT_TEST(json_head)
{
	struct ctx *c = make_ctx("abc");
	struct config cfg;
	char *env[] = { "REQCTX_OUTPUT=json", NULL };
	char out[FMT_HEAD_MAX + 1];
	size_t n;

	config_load(&cfg, env, NULL, NULL);
	n = fmt_head(out, sizeof out - 1, &cfg, c);
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\"request_id\":\"abc\""));
	ck_assert_ptr_nonnull(strstr(out, "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\""));
	ck_assert_int_eq(strncmp(out, "{\"time\":\"20", 11), 0);
	ck_assert_int_eq(strcmp(out + n - 12, ",\"message\":\""), 0);
	n = fmt_head(out, sizeof out - 1, &cfg, NULL);
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\"request_id\":null,\"trace_id\":null,\"span_id\":null"));
	ctx_put(c);
}

UNIT_TEST(escape)
{
	static const struct { const char *in; size_t n; const char *out; } cases[] = {
		{ "plain", 5, "plain" },
		{ "q\"b\\", 4, "q\\\"b\\\\" },
		{ "\r\t\b\f\n", 5, "\\r\\t\\b\\f\\n" },
		{ "\x1b[0m", 4, "\\u001b[0m" },
		{ "\0x", 2, "\\u0000x" },
		{ "\xc3\xa9", 2, "\xc3\xa9" },             /* valid UTF-8 kept */
		{ "\xff\xfe", 2, "\\udcff\\udcfe" },       /* invalid bytes escaped */
		{ "\xc3", 1, "\\udcc3" },                  /* cut sequence */
		{ "\xed\xa0\x80", 3, "\\udced\\udca0\\udc80" }, /* surrogate in UTF-8 */
		{ "\x7f", 1, "\\u007f" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[64];
		size_t used, n = fmt_escape(out, sizeof out, cases[i].in, cases[i].n, &used);

		out[n] = '\0';
		ck_assert_uint_eq(used, cases[i].n);
		ck_assert_str_eq(out, cases[i].out);
		ck_assert_uint_eq(fmt_escape_len(cases[i].in, cases[i].n), n);
	}
}

UNIT_TEST(escape_never_splits)
{
	char out[5];
	size_t used, n = fmt_escape(out, sizeof out, "ab\x01", 3, &used);

	/* "ab" fits, "\u0001" (6 bytes) does not: stop before it. */
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(used, 2);
}

UNIT_TEST(time_format)
{
	char t[28];

	fmt_time(t, 0, 0);
	ck_assert_str_eq(t, "1970-01-01T00:00:00.000000Z");
	fmt_time(t, 1795521600, 123456789);   /* 2026-11-24T12:00:00 */
	ck_assert_str_eq(t, "2026-11-24T12:00:00.123456Z");
	fmt_time(t, 951782400, 0);            /* leap day 2000-02-29 */
	ck_assert_str_eq(t, "2000-02-29T00:00:00.000000Z");
}

Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *t = unit_tcase("format", "format");

	suite_add_tcase(s, t);
	return s;
}
