/*
 * config.c - parses REQCTX_* variables. Pure: it reads the array it is
 * given and reports through a callback, so the unit tests drive it with any
 * environment they like. It must not allocate: it runs in the constructor.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/config.h"

static struct config defaults_storage;
const struct config *agent_config = &defaults_storage;

struct reporter {
	void (*fn)(const char *line, void *arg);
	void *arg;
	int count;
};

/* Copies at most 64 bytes of `v`, escaping anything not printable, so a
 * hostile value cannot put control bytes on the terminal. */
static void quote(char *dst, size_t cap, const char *v)
{
	size_t o = 0;

	for (size_t i = 0; v[i] != '\0' && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (i == 64) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
	}
	dst[o] = '\0';
}

static void bad(struct reporter *r, const char *name, const char *value,
		const char *accepted, const char *used)
{
	char q[300], line[600];

	quote(q, sizeof q, value);
	snprintf(line, sizeof line,
		 "reqctx: %s=\"%s\" is not valid: %s; using %s\n",
		 name, q, accepted, used);
	r->count++;
	if (r->fn)
		r->fn(line, r->arg);
}

static bool word_is(const char *v, const char *const *words)
{
	for (; *words; words++)
		if (strcasecmp(v, *words) == 0)
			return true;
	return false;
}

static void parse_disable(struct config *c, const char *v, struct reporter *r)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", "", NULL };

	if (word_is(v, yes))
		c->disabled = true;
	else if (!word_is(v, no))
		bad(r, "REQCTX_DISABLE", v, "expected 1/true/yes/on or 0/false/no/off",
		    "0 (enabled)");
}

static void parse_children(struct config *c, const char *v, struct reporter *r)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };

	if (word_is(v, no))
		c->no_children = true;
	else if (!word_is(v, yes))
		bad(r, "REQCTX_CHILDREN", v, "expected 1/true/yes/on or 0/false/no/off",
		    "1 (children inherit)");
}

static void parse_crash(struct config *c, const char *v, struct reporter *r)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };

	if (word_is(v, no))
		c->crash = false;
	else if (!word_is(v, yes))
		bad(r, "REQCTX_CRASH", v, "expected 1/true/yes/on or 0/false/no/off",
		    "1 (crash reports on)");
}

static void parse_output(struct config *c, const char *v, struct reporter *r)
{
	if (strcmp(v, "text") == 0)
		c->output = CFG_OUTPUT_TEXT;
	else if (strcmp(v, "json") == 0)
		c->output = CFG_OUTPUT_JSON;
	else
		bad(r, "REQCTX_OUTPUT", v, "expected \"text\" or \"json\"", "\"text\"");
}

static void parse_epoll(struct config *c, const char *v, struct reporter *r)
{
	if (strcmp(v, "single") == 0)
		c->epoll = CFG_EPOLL_SINGLE;
	else if (strcmp(v, "batch") == 0)
		c->epoll = CFG_EPOLL_BATCH;
	else
		bad(r, "REQCTX_EPOLL", v, "expected \"single\" or \"batch\"", "\"single\"");
}

/* RFC 9110 token characters: what a header field name may contain. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch));
}

static void parse_header(struct config *c, const char *v, struct reporter *r)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= CFG_HEADER_MAX;

	for (size_t i = 0; ok && i < n; i++)
		ok = is_tchar((unsigned char)v[i]);
	if (!ok) {
		bad(r, "REQCTX_HEADER", v,
		    "expected a header name of 1 to 64 token characters", "\"X-Request-Id\"");
		return;
	}
	memcpy(c->header, v, n + 1);
	c->header_len = n;
}

/* Compiles `v` into c->segs. Returns NULL on success or what is wrong. */
static const char *compile_format(struct config *c, const char *v)
{
	size_t n = strlen(v);
	int ns = 0;

	if (n > CFG_FORMAT_MAX)
		return "longer than 200 bytes";
	memcpy(c->format, v, n + 1);
	for (size_t i = 0; i < n;) {
		struct cfg_seg s = { 0, (uint8_t)i, 0 };
		unsigned char ch = (unsigned char)v[i];

		if (ns == CFG_FORMAT_SEGS)
			return "too many fields";
		if (ch == '%') {
			char f = v[i + 1];

			if (f == '%') {          /* a literal '%' */
				s.off = (uint8_t)(i + 1);
				s.len = 1;
			} else if (f && strchr("itspT", f)) {
				s.field = f;
			} else {
				return "unknown directive (known: %i %t %s %p %T %%)";
			}
			i += 2;
		} else {
			if (ch < 0x20 || ch == 0x7f)
				return "control characters are not allowed";
			while (i < n && v[i] != '%' &&
			       (unsigned char)v[i] >= 0x20 && v[i] != 0x7f)
				i++;
			s.len = (uint8_t)(i - s.off);
		}
		c->segs[ns++] = s;
	}
	c->nsegs = ns;
	return NULL;
}

static void parse_format(struct config *c, const char *v, struct reporter *r)
{
	const char *why = compile_format(c, v);

	if (why) {
		char acc[128];

		snprintf(acc, sizeof acc, "%s", why);
		bad(r, "REQCTX_FORMAT", v, acc, "\"[%i] \"");
		compile_format(c, "[%i] ");
	}
}

static void parse_debug(struct config *c, const char *v, struct reporter *r)
{
	size_t n = strlen(v);

	if (n > CFG_PATH_MAX) {
		bad(r, "REQCTX_DEBUG", v, "expected a file path of at most 1024 bytes",
		    "no diagnostics");
		return;
	}
	memcpy(c->debug_path, v, n + 1);
}

/* "all", "none" or a comma-separated list of node, python, ruby. */
static void parse_bridges(struct config *c, const char *v, struct reporter *r)
{
	static const struct { const char *name; unsigned bit; } kinds[] = {
		{ "node", CFG_BRIDGE_NODE }, { "python", CFG_BRIDGE_PYTHON },
		{ "ruby", CFG_BRIDGE_RUBY },
	};
	unsigned bits = 0;
	const char *p = v;

	if (strcasecmp(v, "all") == 0 || strcasecmp(v, "none") == 0) {
		c->bridges = strcasecmp(v, "all") == 0 ? CFG_BRIDGE_ALL : 0;
		return;
	}
	for (;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].name) == len &&
			    strncasecmp(p, kinds[i].name, len) == 0)
				break;
		if (i == sizeof kinds / sizeof kinds[0]) {
			bad(r, "REQCTX_BRIDGES", v,
			    "expected all, none or a list of node,python,ruby", "all");
			return;
		}
		bits |= kinds[i].bit;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	c->bridges = bits;
}

struct var {
	const char *name;
	void (*parse)(struct config *, const char *, struct reporter *);
};

static const struct var vars[] = {
	{ "REQCTX_DISABLE", parse_disable },
	{ "REQCTX_OUTPUT", parse_output },
	{ "REQCTX_FORMAT", parse_format },
	{ "REQCTX_HEADER", parse_header },
	{ "REQCTX_EPOLL", parse_epoll },
	{ "REQCTX_DEBUG", parse_debug },
	{ "REQCTX_CHILDREN", parse_children },
	{ "REQCTX_CRASH", parse_crash },
	{ "REQCTX_BRIDGES", parse_bridges },
};

/* Variables the agent sets for its own children, not for users. */
static const char *const internal_vars[] = { "REQCTX_PARENT", NULL };

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->output = CFG_OUTPUT_TEXT;
	c->epoll = CFG_EPOLL_SINGLE;
	c->crash = true;
	c->bridges = CFG_BRIDGE_ALL;
	memcpy(c->header, "X-Request-Id", sizeof "X-Request-Id");
	c->header_len = sizeof "X-Request-Id" - 1;
	compile_format(c, "[%i] ");
}

int config_load(struct config *c, char *const *env,
		void (*report)(const char *line, void *arg), void *arg)
{
	struct reporter r = { report, arg, 0 };

	config_defaults(c);
	for (; env && *env; env++) {
		const char *e = *env, *eq = strchr(e, '=');
		size_t nlen;
		bool known = false;

		if (strncmp(e, "REQCTX_", 7) != 0 || eq == NULL)
			continue;
		nlen = (size_t)(eq - e);
		for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
			if (strlen(vars[i].name) == nlen &&
			    memcmp(vars[i].name, e, nlen) == 0) {
				vars[i].parse(c, eq + 1, &r);
				known = true;
			}
		}
		for (size_t i = 0; !known && internal_vars[i]; i++)
			known = strlen(internal_vars[i]) == nlen &&
				memcmp(internal_vars[i], e, nlen) == 0;
		if (!known) {
			char name[80], q[340], line[600];

			snprintf(name, sizeof name, "%.*s", (int)(nlen < 64 ? nlen : 64), e);
			quote(q, sizeof q, name);
			snprintf(line, sizeof line,
				 "reqctx: unknown variable %s ignored (known: REQCTX_DISABLE, "
				 "REQCTX_OUTPUT, REQCTX_FORMAT, REQCTX_HEADER, REQCTX_EPOLL, "
				 "REQCTX_DEBUG, REQCTX_CHILDREN, REQCTX_CRASH, "
				 "REQCTX_BRIDGES)\n", q);
			r.count++;
			if (report)
				report(line, arg);
		}
	}
	return r.count;
}
