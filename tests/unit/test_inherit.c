/*
 * test_inherit.c - a request's context across exec (agent/inherit.h): the
 * environment a child gets, read back by the child's side (config_load and
 * inherit_adopt) as a new process would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/flow.h"
#include "agent/inherit.h"
#include "agent/spans.h"
#include "base/ctx.h"
#include "fake.h"
#include "suites.h"

#define UNIT_SUITE inherit
#define UNIT_TCASE env

enum { CLIENT = 920 };

static void setup(void)
{
	fake_setup(NULL);
}

static void teardown(void)
{
	static const int fds[] = { CLIENT };

	fake_teardown(fds, 1);
}

static struct ctx *serve(const char *id)
{
	return fake_serve(CLIENT, id);
}

static char scratch[8192];
static char *out[64];

/* The child's environment for `env`; returns its REQCTX_PARENT entry (the
 * only one: checked) or NULL. */
static const char *child_env(char *const *env)
{
	const char *found = NULL;
	int n = 0;

	ck_assert_uint_le(inherit_env_slots(env), sizeof out / sizeof out[0] - 1);
	ck_assert_uint_le(inherit_scratch_size(env), sizeof scratch);
	memset(out, 0, sizeof out);
	inherit_env(env, out, scratch);
	for (char **e = out; *e; e++)
		if (strncmp(*e, INHERIT_VAR "=", sizeof INHERIT_VAR) == 0) {
			found = *e;
			n++;
		}
	ck_assert_int_le(n, 1);
	return found;
}

/* The ID a REQCTX_PARENT entry names ("" for none). */
static const char *named(const char *entry)
{
	static char id[200];
	const char *v = entry ? entry + sizeof INHERIT_VAR : "";
	size_t len = strcspn(v, ";");

	memcpy(id, v, len);
	id[len] = '\0';
	return id;
}

UNIT_TEST(child_starts_in_the_request_it_was_started_in)
{
	static char *env[] = { "PATH=/bin", "REQCTX_PARENT=stale;00;00", NULL };
	struct ctx *a = serve("req-a");
	char trace[33], entry[INHERIT_MAX + 1];
	const char *p = child_env(env);

	ck_assert_str_eq(named(p), "req-a");
	ck_assert_str_eq(out[0], "PATH=/bin");
	memcpy(trace, ctx_name(a)->trace_id, 33);
	/* The child: a new process reads the entry. */
	snprintf(entry, sizeof entry, "%s", p);
	ctx_take_current(NULL);
	fake_config(entry);
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(ctx_name(agent_self.cur)->id, "req-a");
	ck_assert_str_eq(ctx_name(agent_self.cur)->trace_id, trace);
}

/* The child works in the request's span where the parent records it: its
 * context has that span ID (its client spans are children of the
 * parent's server span); where the parent records none, the caller's (the
 * nearest recorded one), which its context also has as its parent, so
 * that the traceparent it sends names it. Before, the child had a span of
 * its own that no file recorded. An entry without one (an agent of
 * before, or a parent with no caller) gives it a new one. */
UNIT_TEST(child_carries_the_requests_span)
{
	static char *env[] = { "PATH=/bin", NULL };
	struct ctx_seed seed = { .id = "req-a", .id_len = 5, .trace_id = "0af7651916cd43dd8448eb211c80319c",
				 .parent_id = "b7ad6b7169203331", .trace_flags = 1 };
	char path[] = "/tmp/test_inherit.XXXXXX", var[64], span[17], entry[INHERIT_MAX + 1];
	struct config cfg;
	struct ctx *a = ctx_new(&seed);
	int fd;

	/* no spans recorded: the caller's span */
	ctx_take_current(a);
	snprintf(entry, sizeof entry, "%s", child_env(env));
	ctx_take_current(NULL);
	fake_config(entry);
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(ctx_name(agent_self.cur)->id, "req-a");
	ck_assert_str_eq(agent_self.cur->span_id, "b7ad6b7169203331");
	ck_assert_str_eq(ctx_name(agent_self.cur)->parent_id, "b7ad6b7169203331");
	inherit_own_requests();

	/* spans recorded: the request's own */
	ck_assert_int_ge(fd = mkstemp(path), 0);
	close(fd);
	snprintf(var, sizeof var, "REQCTX_SPANS=%s", path);
	fake_config(var);
	config_defaults(&cfg);
	snprintf(cfg.spans_path, sizeof cfg.spans_path, "%s", path);
	ck_assert_int_eq(spans_init(&cfg), 0);
	ctx_take_current(a);
	memcpy(span, a->span_id, 17);
	snprintf(entry, sizeof entry, "%s", child_env(env));
	ctx_take_current(NULL);
	fake_config(entry);
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(agent_self.cur->span_id, span);
	ck_assert_str_eq(ctx_name(agent_self.cur)->parent_id, span);
	inherit_own_requests();
	unlink(path);

	ctx_take_current(NULL);
	fake_config("REQCTX_PARENT=req-b;0af7651916cd43dd8448eb211c80319c;01;0:0");
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(ctx_name(agent_self.cur)->id, "req-b");
	ck_assert_uint_eq(strspn(agent_self.cur->span_id, "0123456789abcdef"), 16);
	ck_assert_str_ne(agent_self.cur->span_id, span);
	ck_assert_str_ne(agent_self.cur->span_id, "b7ad6b7169203331");
	ctx_put(a);
}

/* The trace's tracestate goes to the child with its context
 * (REQCTX_PARENT_STATE), checked again as a header's, so the child's
 * requests carry it on (before, a child's went out without it); the
 * variables are taken out of the child's environment. */
UNIT_TEST(child_carries_the_tracestate)
{
	static char *env[] = { "PATH=/bin", "REQCTX_PARENT_STATE=stale=1", NULL };
	struct ctx_seed seed = { .id = "req-t", .id_len = 5, .trace_id = "0af7651916cd43dd8448eb211c80319c",
				 .parent_id = "b7ad6b7169203331", .trace_flags = 1,
				 .tracestate = "congo=t61;rcW,rojo=00f067aa0ba902b7", .tracestate_len = 35 };
	char parent[INHERIT_MAX + 1], state[INHERIT_STATE_MAX + 1];
	char *child[3] = { parent, state, NULL };
	const char *st = NULL;
	int n = 0;

	ctx_take_current(ctx_new(&seed));
	child_env(env);
	for (char **e = out; *e; e++) {
		if (strncmp(*e, INHERIT_VAR "=", sizeof INHERIT_VAR) == 0)
			snprintf(parent, sizeof parent, "%s", *e);
		if (strncmp(*e, INHERIT_STATE_VAR "=", sizeof INHERIT_STATE_VAR) == 0) {
			st = *e;
			n++;
		}
	}
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(st, "REQCTX_PARENT_STATE=congo=t61;rcW,rojo=00f067aa0ba902b7");
	snprintf(state, sizeof state, "%s", st);
	ctx_take_current(NULL);
	setenv(INHERIT_STATE_VAR, "x", 1);
	config_load(&fake_cfg, child, NULL, NULL);
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(ctx_name(agent_self.cur)->id, "req-t");
	ck_assert_ptr_nonnull(ctx_name(agent_self.cur)->tracestate);
	ck_assert_str_eq(ctx_name(agent_self.cur)->tracestate, "congo=t61;rcW,rojo=00f067aa0ba902b7");
	ck_assert_ptr_null(getenv(INHERIT_STATE_VAR));
	inherit_own_requests();

	/* one that breaks the rules is not carried */
	snprintf(state, sizeof state, INHERIT_STATE_VAR "=BAD KEY=1");
	ctx_take_current(NULL);
	config_load(&fake_cfg, child, NULL, NULL);
	inherit_adopt();
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_ptr_null(ctx_name(agent_self.cur)->tracestate);
	inherit_own_requests();
}

UNIT_TEST(child_started_outside_a_request_names_none)
{
	static char *env[] = { "PATH=/bin", NULL };

	ck_assert_str_eq(named(child_env(env)), "");
}

/* A CGI program run for a connection whose protocol is not understood
 * (Apache's cgid daemon: a session) is not that connection's request. */
UNIT_TEST(session_context_is_not_given_to_a_cgi_program)
{
	static char *cgi[] = { "GATEWAY_INTERFACE=CGI/1.1", "PATH=/bin", NULL };
	static char *plain[] = { "PATH=/bin", NULL };
	struct ctx *a = serve("req-a");

	__atomic_store_n(&a->session, 1, __ATOMIC_RELAXED);
	ck_assert_str_eq(named(child_env(cgi)), "");
	ck_assert_str_eq(named(child_env(plain)), "req-a");
}

UNIT_TEST(children_0_passes_no_context)
{
	static char *env[] = { "PATH=/bin", NULL };

	fake_config("REQCTX_CHILDREN=0");
	serve("req-a");
	ck_assert_ptr_null(child_env(env));
}

/* The start's REQCTX_* settings go back into an environment rebuilt
 * without them: with no LD_PRELOAD (env -i), the agent and the settings;
 * with LD_PRELOAD passed on and no REQCTX_* (lighttpd's CGI environment),
 * the settings; one with a REQCTX_* value of its own is left as it is. */
UNIT_TEST(a_rebuilt_environment_gets_the_settings_back)
{
	char dir[] = "/tmp/test_inherit.XXXXXX", lib[64], preload[96];
	char *start[] = { preload, "REQCTX_OUTPUT=json", "REQCTX_TAG=stderr", NULL };
	char *cgi[] = { "GATEWAY_INTERFACE=CGI/1.1", preload, "PATH=/bin", NULL };
	char *bare[] = { "PATH=/bin", NULL };
	char *own[] = { preload, "REQCTX_TAG=stdout", NULL };
	FILE *f;
	int json, tag, pre;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(lib, sizeof lib, "%s/libreqctx.so", dir);
	ck_assert_ptr_nonnull(f = fopen(lib, "w"));
	fclose(f);
	snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lib);
	inherit_keep_settings(start);
	for (int k = 0; k < 3; k++) {
		child_env(k == 0 ? cgi : k == 1 ? bare : own);
		json = tag = pre = 0;
		for (char **e = out; *e; e++) {
			json += strcmp(*e, "REQCTX_OUTPUT=json") == 0;
			tag += strncmp(*e, "REQCTX_TAG=", 11) == 0;
			pre += strncmp(*e, "LD_PRELOAD=", 11) == 0;
		}
		ck_assert_int_eq(pre, 1);
		ck_assert_int_eq(json, k < 2 ? 1 : 0);
		ck_assert_int_eq(tag, 1);
	}
	inherit_keep_settings(NULL);
	unlink(lib);
	rmdir(dir);
}

/* A child whose own LD_PRELOAD leaves the agent out (the program preloads
 * something else of its own) does not load it: neither the request nor
 * the settings go into its environment (a trial found REQCTX_PARENT
 * there). One whose LD_PRELOAD names the agent gets them. */
UNIT_TEST(a_child_that_preloads_without_the_agent_gets_nothing_of_it)
{
	char dir[] = "/tmp/test_inherit.XXXXXX", lib[64], preload[96], both[160];
	char *start[] = { preload, "REQCTX_OUTPUT=json", NULL };
	char *other[] = { "LD_PRELOAD=/usr/lib/libother.so", "PATH=/bin", NULL };
	char *with[] = { both, "PATH=/bin", NULL };
	FILE *f;
	int settings = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(lib, sizeof lib, "%s/libreqctx.so", dir);
	ck_assert_ptr_nonnull(f = fopen(lib, "w"));
	fclose(f);
	snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lib);
	snprintf(both, sizeof both, "LD_PRELOAD=/usr/lib/libother.so:%s", lib);
	inherit_keep_settings(start);
	serve("req-a");
	ck_assert_ptr_null(child_env(other));
	for (char **e = out; *e; e++)
		settings += strncmp(*e, "REQCTX_", 7) == 0;
	ck_assert_int_eq(settings, 0);
	ck_assert_str_eq(named(child_env(with)), "req-a");
	inherit_keep_settings(NULL);
	unlink(lib);
	rmdir(dir);
}

Suite *inherit_suite(void)
{
	Suite *s = suite_create("inherit");
	TCase *t = unit_tcase("inherit", "env");

	tcase_add_checked_fixture(t, setup, teardown);
	suite_add_tcase(s, t);
	return s;
}
