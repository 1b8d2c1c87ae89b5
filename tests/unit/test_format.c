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

static int obj_check(const struct config *cfg, const char *line, struct fmt_obj *o)
{
	fmt_obj_init(o);
	/* In two pieces, as a line written in two writes is fed. */
	if (fmt_obj_feed(o, cfg, line, strlen(line) / 2) == FMT_OBJ_NO ||
	    fmt_obj_feed(o, cfg, line + strlen(line) / 2, strlen(line) - strlen(line) / 2) == FMT_OBJ_NO)
		return FMT_OBJ_NO;
	return fmt_obj_end(o);
}

UNIT_TEST(object_lines)
{
	static const struct { const char *line; int yes; bool members; } cases[] = {
		{ "{\"level\":30,\"msg\":\"hi\"}", 1, true },
		{ "  {\"a\":{\"b\":\"}{\"},\"c\":[1,{\"d\":\"\\\"}\"}]} \r", 1, true },
		{ "{}", 1, false },
		{ "{ }", 1, false },
		{ "{\"a\":1} x", 0, false },
		{ "{\"a\":1", 0, false },
		{ "{\"a\":1}}", 0, false },
		{ "{\"a\":[1}", 0, false },
		{ "{\"a\":\"\x01\"}", 0, false },
		{ "{\"a\":\"}", 0, false },
		{ "x{\"a\":1}", 0, false },
		{ "[1]", 0, false },
		{ "{\"re\\u0071uest_id\":1}", 0, false },   /* escaped top-level key */
		{ "{\"a\":\"\t\"}", 0, false },            /* raw tab in a string */
		{ "{\"a\":\t1}", 1, true },                  /* ... outside: a blank */
		{ "{\"caf\xc3\xa9\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}", 1, true },
		{ "{\"a\":\"\xff\"}", 0, false },           /* not UTF-8 */
		{ "{\"a\":\"\xc3\"}", 0, false },           /* cut sequence */
		{ "{\"a\":\"\xed\xa0\x80\"}", 0, false },   /* surrogate */
		{ "{\"a\":\"\xe0\x80\x80\"}", 0, false },   /* overlong */
		{ "{\"a\":1}\xc2\xa0", 0, false },           /* non-ASCII after it */
	};
	struct config cfg;
	char *env[] = { "REQCTX_OUTPUT=json", NULL };

	config_load(&cfg, env, NULL, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fmt_obj o;
		int r = obj_check(&cfg, cases[i].line, &o);

		ck_assert_msg((r == FMT_OBJ_YES) == cases[i].yes, "case %zu: %s", i, cases[i].line);
		if (cases[i].yes)
			ck_assert_int_eq(o.members, cases[i].members);
	}
}

UNIT_TEST(merge_head_renames_clashes)
{
	struct ctx *c = make_ctx("abc");
	struct config cfg;
	char *env[] = { "REQCTX_OUTPUT=json", NULL };
	char head[FMT_HEAD_MAX], out[FMT_HEAD_MAX + 1];
	struct fmt_obj o;
	size_t n, m;

	config_load(&cfg, env, NULL, NULL);
	n = fmt_head(head, sizeof head, &cfg, c);
	ck_assert_int_eq(obj_check(&cfg, "{\"pid\":1,\"x\":{\"time\":2},\"span_id\":\"s\"}", &o), FMT_OBJ_YES);
	m = fmt_merge_head(out, sizeof out - 1, head, n, &cfg, &o);
	out[m] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "{\"time\":\"20"));          /* nested: no clash */
	ck_assert_ptr_nonnull(strstr(out, ",\"request_id\":\"abc\","));
	ck_assert_ptr_nonnull(strstr(out, ",\"reqctx.span_id\":\""));
	ck_assert_ptr_nonnull(strstr(out, ",\"reqctx.pid\":"));
	ck_assert_ptr_null(strstr(out, "message"));
	ck_assert_int_eq(out[m - 1], ',');
	ck_assert_int_eq(obj_check(&cfg, "{}", &o), FMT_OBJ_YES);
	m = fmt_merge_head(out, sizeof out - 1, head, n, &cfg, &o);
	ck_assert_int_ne(out[m - 1], ',');
	ck_assert_uint_eq(fmt_merge_head(out, 40, head, n, &cfg, &o), 0);   /* does not fit */
	ctx_put(c);
}

UNIT_TEST(object_clash_with_a_field)
{
	struct config cfg;
	char *env[] = { "REQCTX_OUTPUT=json", "REQCTX_FIELDS=tenant=X-Tenant", NULL };
	struct fmt_obj o;

	config_load(&cfg, env, NULL, NULL);
	ck_assert_int_eq(cfg.nfields, 1);
	ck_assert_int_eq(obj_check(&cfg, "{\"tenant\":\"t\",\"x\":{\"pid\":1}}", &o), FMT_OBJ_YES);
	ck_assert_uint_eq(o.clash, 1u << 6);       /* the field; nested pid is no clash */
	ck_assert_int_eq(obj_check(&cfg, "{\"a\":[\"tid\"],\"tid\":1}", &o), FMT_OBJ_YES);
	ck_assert_uint_eq(o.clash, 1u << 5);       /* a key, not the string value */
}

/* The sampled bit a new context's trace gets (struct ctx_sampling): by
 * default a trace started here is sampled and an adopted one keeps its
 * caller's bit; a sampler that is not parent-based decides both by the
 * trace ID's lower 8 bytes. Other trace-flags bits pass as they came. */
UNIT_TEST(sampled_flag_of_new_traces)
{
	static const char low1[] = "0af7651916cd43dd0000000000000001";
	static const char high[] = "0af7651916cd43ddffffffffffffffff";
	struct ctx_sampling saved = ctx_sampling;
	struct ctx_seed adopted = { .trace_id = low1, .trace_flags = 0x02 };
	struct ctx *c;

	id_init();
	c = ctx_new(NULL);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 1);
	ctx_put(c);
	c = ctx_new(&adopted);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 0x02);
	ctx_put(c);
	adopted.trace_flags = 0xff;          /* bits W3C does not define: zero */
	c = ctx_new(&adopted);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 0x03);
	ctx_put(c);
	ctx_sampling = (struct ctx_sampling){ false, 0 };            /* always_off */
	c = ctx_new(NULL);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 0);
	ctx_put(c);
	adopted.trace_flags = 0x03;
	c = ctx_new(&adopted);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 0x02);
	ctx_put(c);
	ctx_sampling = (struct ctx_sampling){ false, 1ull << 62 };   /* traceidratio 0.5 */
	ck_assert_uint_eq(ctx_sample(low1), 1);
	ck_assert_uint_eq(ctx_sample(high), 0);
	adopted.trace_flags = 0;
	c = ctx_new(&adopted);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 1);
	ctx_put(c);
	ctx_sampling = (struct ctx_sampling){ true, 0 };             /* parentbased_always_off */
	c = ctx_new(&adopted);
	ck_assert_uint_eq(ctx_name(c)->trace_flags, 0);
	ctx_put(c);
	ctx_sampling = saved;
}

Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *t = unit_tcase("format", "format");

	suite_add_tcase(s, t);
	return s;
}
