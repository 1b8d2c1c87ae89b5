/*
 * test_config.c - REQCTX_* parsing: defaults, every variable, bad values
 * (one report each, default kept), unknown names, hostile values.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "agent/config.h"
#include "suites.h"

#define UNIT_SUITE config
#define UNIT_TCASE config

struct seen {
	int n;
	char last[600];
};

static void collect(const char *line, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof s->last, "%s", line);
}

static int load(struct config *c, struct seen *s, char **env)
{
	memset(s, 0, sizeof *s);
	return config_load(c, env, collect, s);
}

UNIT_TEST(defaults)
{
	struct config c;
	struct seen s;
	char *env[] = { "PATH=/bin", "HOME=/root", NULL };

	ck_assert_int_eq(load(&c, &s, env), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert(!c.disabled);
	ck_assert_int_eq(c.output, CFG_OUTPUT_TEXT);
	ck_assert_int_eq(c.epoll, CFG_EPOLL_SINGLE);
	ck_assert_str_eq(c.header, "X-Request-Id");
	ck_assert_str_eq(c.format, "[%i] ");
	ck_assert_str_eq(c.debug_path, "");
}

UNIT_TEST(all_valid)
{
	struct config c;
	struct seen s;
	char *env[] = { "REQCTX_OUTPUT=json", "REQCTX_EPOLL=batch", "REQCTX_HEADER=X-Trace",
			"REQCTX_FORMAT=%p/%T %i %t %s %% ", "REQCTX_DISABLE=yes",
			"REQCTX_DEBUG=/tmp/x.log", NULL };

	ck_assert_int_eq(load(&c, &s, env), 0);
	ck_assert_int_eq(c.output, CFG_OUTPUT_JSON);
	ck_assert_int_eq(c.epoll, CFG_EPOLL_BATCH);
	ck_assert_str_eq(c.header, "X-Trace");
	ck_assert_uint_eq(c.header_len, 7);
	ck_assert(c.disabled);
	ck_assert_str_eq(c.debug_path, "/tmp/x.log");
	/* %p / %T ' ' %i ' ' %t ' ' %s ' ' %% ' ' */
	ck_assert_int_eq(c.nsegs, 12);
	ck_assert_int_eq(c.segs[0].field, 'p');
	ck_assert_int_eq(c.segs[1].field, 0);
	ck_assert_int_eq(c.segs[2].field, 'T');
	ck_assert_int_eq(c.segs[10].field, 0);
	ck_assert_int_eq(c.format[c.segs[10].off], '%');
	ck_assert_int_eq(c.segs[10].len, 1);
}

UNIT_TEST(bad_values_keep_defaults)
{
	static const char *const cases[][2] = {
		{ "REQCTX_OUTPUT=xml", "REQCTX_OUTPUT" },
		{ "REQCTX_EPOLL=sometimes", "REQCTX_EPOLL" },
		{ "REQCTX_HEADER=X Request", "REQCTX_HEADER" },
		{ "REQCTX_HEADER=", "REQCTX_HEADER" },
		{ "REQCTX_FORMAT=%q", "REQCTX_FORMAT" },
		{ "REQCTX_FORMAT=abc%", "REQCTX_FORMAT" },
		{ "REQCTX_FORMAT=a\nb", "REQCTX_FORMAT" },
		{ "REQCTX_DISABLE=maybe", "REQCTX_DISABLE" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c;
		struct seen s;
		char *env[] = { (char *)cases[i][0], NULL };

		ck_assert_int_eq(load(&c, &s, env), 1);
		ck_assert_int_eq(s.n, 1);
		ck_assert_msg(strstr(s.last, cases[i][1]) != NULL, "%s", s.last);
		ck_assert_msg(strstr(s.last, "using") != NULL, "%s", s.last);
		ck_assert_int_eq(s.last[strlen(s.last) - 1], '\n');
		ck_assert_int_eq(strchr(s.last, '\n') - s.last, (long)strlen(s.last) - 1);
		ck_assert_int_eq(c.output, CFG_OUTPUT_TEXT);
		ck_assert_int_eq(c.epoll, CFG_EPOLL_SINGLE);
		ck_assert_str_eq(c.header, "X-Request-Id");
		ck_assert_str_eq(c.format, "[%i] ");
		ck_assert(!c.disabled);
	}
}

UNIT_TEST(hostile_value_is_quoted)
{
	struct config c;
	struct seen s;
	char *env[] = { "REQCTX_OUTPUT=\x1b[31mred\r\n\"x\"", NULL };

	load(&c, &s, env);
	ck_assert_int_eq(s.n, 1);
	ck_assert_ptr_null(strchr(s.last, '\x1b'));
	ck_assert_ptr_null(strchr(s.last, '\r'));
	ck_assert_ptr_nonnull(strstr(s.last, "\\x1b[31mred\\x0d\\x0a\\x22x\\x22"));
}

UNIT_TEST(long_value_is_cut)
{
	struct config c;
	struct seen s;
	char big[5000] = "REQCTX_OUTPUT=";

	memset(big + 14, 'a', 4000);
	big[4014] = '\0';
	char *env[] = { big, NULL };

	load(&c, &s, env);
	ck_assert_int_eq(s.n, 1);
	ck_assert_ptr_nonnull(strstr(s.last, "..."));
	ck_assert_uint_lt(strlen(s.last), 400);
}

UNIT_TEST(unknown_variable_reported)
{
	struct config c;
	struct seen s;
	char *env[] = { "REQCTX_FROMAT=[%i]", NULL };

	ck_assert_int_eq(load(&c, &s, env), 1);
	ck_assert_ptr_nonnull(strstr(s.last, "REQCTX_FROMAT"));
	ck_assert_ptr_null(strstr(s.last, "[%i]"));
	ck_assert_str_eq(c.format, "[%i] ");
}

UNIT_TEST(format_limits)
{
	struct config c;
	struct seen s;
	char fmt[300] = "REQCTX_FORMAT=";

	memset(fmt + 14, 'x', 201);
	fmt[215] = '\0';
	char *env[] = { fmt, NULL };

	ck_assert_int_eq(load(&c, &s, env), 1);
	ck_assert_str_eq(c.format, "[%i] ");
	fmt[214] = '\0';          /* exactly 200 bytes: fine */
	ck_assert_int_eq(load(&c, &s, env), 0);
	ck_assert_uint_eq(strlen(c.format), 200);
}

UNIT_TEST(disable_words)
{
	static const char *const on[] = { "REQCTX_DISABLE=1", "REQCTX_DISABLE=TRUE", "REQCTX_DISABLE=on" };
	static const char *const off[] = { "REQCTX_DISABLE=0", "REQCTX_DISABLE=no", "REQCTX_DISABLE=" };

	for (int i = 0; i < 3; i++) {
		struct config c;
		struct seen s;
		char *e1[] = { (char *)on[i], NULL }, *e2[] = { (char *)off[i], NULL };

		ck_assert_int_eq(load(&c, &s, e1), 0);
		ck_assert(c.disabled);
		ck_assert_int_eq(load(&c, &s, e2), 0);
		ck_assert(!c.disabled);
	}
}

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t = unit_tcase("config", "config");

	suite_add_tcase(s, t);
	return s;
}
