/*
 * test_config.c - REQCTX_* parsing: defaults, every variable, bad values
 * (one report each, default kept), unknown names, hostile values.
 */
#include <check.h>
#include <stddef.h>
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
		{ "REQCTX_CRASH=nope", "REQCTX_CRASH" },
		{ "REQCTX_CHILDREN=2", "REQCTX_CHILDREN" },
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
		ck_assert(c.crash);
		ck_assert(c.children);
	}
}

/* A field named twice, or after one of the JSON line's own members, would
 * repeat a member in the object (a client's header could stand for the
 * time in a parser that keeps the last): one report, no fields. */
UNIT_TEST(field_names_once_and_not_ours)
{
	static char *const bad[] = { "REQCTX_FIELDS=a=X-A,a=X-B", "REQCTX_FIELDS=time=X-T",
				     "REQCTX_FIELDS=user=X-U,message=X-M" };
	struct config c;
	struct seen s;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *env[] = { bad[i], NULL };

		load(&c, &s, env);
		ck_assert_int_eq(s.n, 1);
		ck_assert_ptr_nonnull(strstr(s.last, i == 0 ? "given twice" : "own members"));
		ck_assert_int_eq(c.nfields, 0);
	}
	{
		char *env[] = { "REQCTX_FIELDS=tenant=X-Tenant,user.id=X-User", NULL };

		load(&c, &s, env);
		ck_assert_int_eq(s.n, 0);
		ck_assert_int_eq(c.nfields, 2);
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

/* The one boolean parser, for every boolean variable: the same words, and
 * "" is "not set" (the default stays, nothing is reported). */
UNIT_TEST(booleans_one_meaning)
{
	static const struct {
		const char *name;
		size_t off;
		bool dflt;
	} vars[] = {
		{ "REQCTX_DISABLE", offsetof(struct config, disabled), false },
		{ "REQCTX_CRASH", offsetof(struct config, crash), true },
		{ "REQCTX_CHILDREN", offsetof(struct config, children), true },
	};
	static const char *const yes[] = { "1", "TRUE", "yes", "On" };
	static const char *const no[] = { "0", "false", "NO", "off" };
	static const char *const bad[] = { "maybe", "2", " 1", "yes please" };

	for (size_t v = 0; v < sizeof vars / sizeof vars[0]; v++) {
		char e[64];
		char *env[] = { e, NULL };
		struct config c;
		struct seen s;

		for (int i = 0; i < 4; i++) {
			snprintf(e, sizeof e, "%s=%s", vars[v].name, yes[i]);
			ck_assert_int_eq(load(&c, &s, env), 0);
			ck_assert_msg(*(bool *)((char *)&c + vars[v].off), "%s", e);
			snprintf(e, sizeof e, "%s=%s", vars[v].name, no[i]);
			ck_assert_int_eq(load(&c, &s, env), 0);
			ck_assert_msg(!*(bool *)((char *)&c + vars[v].off), "%s", e);
			snprintf(e, sizeof e, "%s=%s", vars[v].name, bad[i]);
			ck_assert_int_eq(load(&c, &s, env), 1);
			ck_assert_msg(strstr(s.last, vars[v].name) != NULL, "%s", s.last);
			ck_assert_msg(*(bool *)((char *)&c + vars[v].off) == vars[v].dflt, "%s", e);
		}
		snprintf(e, sizeof e, "%s=", vars[v].name);
		ck_assert_int_eq(load(&c, &s, env), 0);
		ck_assert_msg(*(bool *)((char *)&c + vars[v].off) == vars[v].dflt, "%s", e);
	}
}

/* Before the constructor, agent_config points at the real defaults (a
 * static initialiser), and they are what parsing an empty environment
 * gives. */
UNIT_TEST(static_defaults_are_the_defaults)
{
	struct config c;
	struct seen s;
	const struct config *d = &config_default;

	ck_assert_int_eq(load(&c, &s, NULL), 0);
	ck_assert_int_eq(d->disabled, c.disabled);
	ck_assert_int_eq(d->output, c.output);
	ck_assert_int_eq(d->epoll, c.epoll);
	ck_assert_str_eq(d->header, "X-Request-Id");
	ck_assert_uint_eq(d->header_len, strlen(d->header));
	ck_assert(d->crash);
	ck_assert(d->children);
	ck_assert_str_eq(d->debug_path, "");
	ck_assert_str_eq(d->parent, "");
	/* The static segments are what compiling "[%i] " gives. */
	char *env[] = { "REQCTX_FORMAT=[%i] ", NULL };

	ck_assert_int_eq(load(&c, &s, env), 0);
	ck_assert_str_eq(d->format, c.format);
	ck_assert_int_eq(d->nsegs, c.nsegs);
	ck_assert_int_eq(memcmp(d->segs, c.segs, sizeof c.segs), 0);
}

/* Every variable of the table is one config_load() knows; the unknown-
 * variable report names every user variable of the table and no internal
 * one. */
UNIT_TEST(table_drives_the_report)
{
	const struct config_var *v;
	struct config c;
	struct seen s;
	char *unknown[] = { "REQCTX_NOPE=1", NULL };
	size_t n = 0;

	ck_assert_int_eq(load(&c, &s, unknown), 1);
	for (size_t i = 0; (v = config_var(i)) != NULL; i++, n++) {
		char e[80];
		char *env[] = { e, NULL };
		struct seen t;

		snprintf(e, sizeof e, "%s=", v->name);
		load(&c, &t, env);
		ck_assert_msg(t.n == 0 || strstr(t.last, "unknown") == NULL, "%s", t.last);
		if (v->internal)
			ck_assert_msg(strstr(s.last, v->name) == NULL, "%s", s.last);
		else
			ck_assert_msg(strstr(s.last, v->name) != NULL, "%s lacks %s", s.last, v->name);
	}
	ck_assert_uint_ge(n, 9);
	ck_assert_int_eq(s.last[strlen(s.last) - 2], ')');
}

/* REQCTX_PARENT is read here, not by getenv elsewhere; it is not an unknown
 * variable, and a value too long to be one the agent wrote is dropped. */
UNIT_TEST(parent_read_into_config)
{
	struct config c;
	struct seen s;
	char big[300] = "REQCTX_PARENT=";
	char *env[] = { "REQCTX_PARENT=req-1;0123456789abcdef0123456789abcdef;01", NULL };
	char *env2[] = { big, NULL };

	ck_assert_int_eq(load(&c, &s, env), 0);
	ck_assert_str_eq(c.parent, "req-1;0123456789abcdef0123456789abcdef;01");
	memset(big + 14, 'a', 280);
	ck_assert_int_eq(load(&c, &s, env2), 0);
	ck_assert_str_eq(c.parent, "");
}

UNIT_TEST(bridges_values)
{
	struct config c;
	struct seen s;
	char *none[] = { "REQCTX_BRIDGES=none", NULL };
	char *some[] = { "REQCTX_BRIDGES=node,Python", NULL };
	char *all[] = { "REQCTX_BRIDGES=ALL", NULL };
	char *bad1[] = { "REQCTX_BRIDGES=node,java", NULL };
	char *bad2[] = { "REQCTX_BRIDGES=node,", NULL };
	char *bad3[] = { "REQCTX_BRIDGES=", NULL };

	ck_assert_int_eq(load(&c, &s, (char *[]){ NULL }), 0);
	ck_assert_uint_eq(c.bridges, CFG_BRIDGE_ALL);
	ck_assert_int_eq(load(&c, &s, none), 0);
	ck_assert_uint_eq(c.bridges, 0);
	ck_assert_int_eq(load(&c, &s, some), 0);
	ck_assert_uint_eq(c.bridges, CFG_BRIDGE_NODE | CFG_BRIDGE_PYTHON);
	ck_assert_int_eq(load(&c, &s, all), 0);
	ck_assert_uint_eq(c.bridges, CFG_BRIDGE_ALL);
	for (int i = 0; i < 3; i++) {
		char **e = i == 0 ? bad1 : i == 1 ? bad2 : bad3;

		ck_assert_int_eq(load(&c, &s, e), 1);
		ck_assert_int_eq(s.n, 1);
		ck_assert_ptr_nonnull(strstr(s.last, "REQCTX_BRIDGES"));
		ck_assert_uint_eq(c.bridges, CFG_BRIDGE_ALL);
	}
}

UNIT_TEST(tag_values)
{
	struct config c;
	struct seen s;
	char *out[] = { "REQCTX_TAG=stdout", NULL };
	char *all[] = { "REQCTX_TAG=stderr,/var/log/nginx/*.log,stdout,/srv/a[0-9].log", NULL };
	const char *bad[] = { "", "stdout,", "logs/*.log", "/", "STDERR", "/a,\x01b",
			      "stderr,,stdout" };
	char big[CFG_TAG_MAX + 40] = "REQCTX_TAG=";
	char many[400] = "REQCTX_TAG=";

	ck_assert_int_eq(load(&c, &s, (char *[]){ NULL }), 0);
	ck_assert(c.tag_stderr);
	ck_assert(!c.tag_stdout);
	ck_assert_int_eq(c.tag_npaths, 0);
	ck_assert_int_eq(load(&c, &s, out), 0);
	ck_assert(!c.tag_stderr);
	ck_assert(c.tag_stdout);
	ck_assert_int_eq(load(&c, &s, all), 0);
	ck_assert(c.tag_stderr && c.tag_stdout);
	ck_assert_int_eq(c.tag_npaths, 2);
	ck_assert_str_eq(c.tag_paths + c.tag_path[0], "/var/log/nginx/*.log");
	ck_assert_str_eq(c.tag_paths + c.tag_path[1], "/srv/a[0-9].log");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char e[64];

		snprintf(e, sizeof e, "REQCTX_TAG=%s", bad[i]);
		ck_assert_int_eq(load(&c, &s, (char *[]){ e, NULL }), 1);
		ck_assert_ptr_nonnull(strstr(s.last, "REQCTX_TAG"));
		ck_assert_ptr_nonnull(strstr(s.last, "using stderr"));
		ck_assert(c.tag_stderr && !c.tag_stdout && c.tag_npaths == 0);
	}
	memset(big + 11, 'a', CFG_TAG_MAX);
	big[11] = '/';
	big[11 + CFG_TAG_MAX] = 'a';
	big[12 + CFG_TAG_MAX] = '\0';
	ck_assert_int_eq(load(&c, &s, (char *[]){ big, NULL }), 1);
	for (int i = 0; i < CFG_TAG_PATHS + 1; i++)
		strcat(many, i ? ",/x" : "/x");
	ck_assert_int_eq(load(&c, &s, (char *[]){ many, NULL }), 1);
	many[strlen(many) - 3] = '\0';        /* 16 paths: fine */
	ck_assert_int_eq(load(&c, &s, (char *[]){ many, NULL }), 0);
	ck_assert_int_eq(c.tag_npaths, CFG_TAG_PATHS);
}

/* OTEL_TRACES_SAMPLER and its argument, as the OpenTelemetry SDKs read
 * them: parent-based and every trace started sampled by default; a
 * value not among the samplers that decide by the trace alone, or a
 * ratio outside [0, 1], gets one report and the default. */
UNIT_TEST(otel_traces_sampler)
{
	struct config c;
	struct seen s;

	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=", NULL }), 0);
	ck_assert(c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, UINT64_MAX);
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=always_off", NULL }), 0);
	ck_assert(!c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, 0);
	/* an enumerated value in any case, as OpenTelemetry reads them */
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER= Always_Off ", NULL }), 0);
	ck_assert_uint_eq(c.sample_bound, 0);
	/* a plain decimal, spaces around it allowed; no hex, exponent or sign */
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=traceidratio",
						   "OTEL_TRACES_SAMPLER_ARG= .5 ", NULL }), 0);
	ck_assert_uint_eq(c.sample_bound, 1ull << 62);
	for (int i = 0; i < 4; i++) {
		static const char *const bad[] = { "OTEL_TRACES_SAMPLER_ARG=0x1p-1", "OTEL_TRACES_SAMPLER_ARG=5e-1",
						   "OTEL_TRACES_SAMPLER_ARG=-0", "OTEL_TRACES_SAMPLER_ARG=0.5.0" };

		ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=traceidratio", (char *)bad[i],
							   NULL }), 1);
		ck_assert_uint_eq(c.sample_bound, UINT64_MAX);
	}
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=parentbased_always_off", NULL }), 0);
	ck_assert(c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, 0);
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER_ARG=0.25",
						   "OTEL_TRACES_SAMPLER=traceidratio", NULL }), 0);
	ck_assert(!c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, 1ull << 61);
	/* the argument of a sampler that takes none is not read */
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=always_on",
						   "OTEL_TRACES_SAMPLER_ARG=lots", NULL }), 0);
	ck_assert_uint_eq(c.sample_bound, UINT64_MAX);
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=jaeger_remote", NULL }), 1);
	ck_assert_ptr_nonnull(strstr(s.last, "OTEL_TRACES_SAMPLER=\"jaeger_remote\" is not valid"));
	ck_assert_ptr_nonnull(strstr(s.last, "using parentbased_always_on"));
	ck_assert(c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, UINT64_MAX);
	ck_assert_int_eq(load(&c, &s, (char *[]){ "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
						   "OTEL_TRACES_SAMPLER_ARG=1.5", NULL }), 1);
	ck_assert_ptr_nonnull(strstr(s.last, "using 1.0"));
	ck_assert(c.sample_parent);
	ck_assert_uint_eq(c.sample_bound, UINT64_MAX);
}

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t = unit_tcase("config", "config");

	suite_add_tcase(s, t);
	return s;
}
