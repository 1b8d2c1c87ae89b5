/*
 * config.c - parses REQCTX_* variables. Pure: it reads the array it is
 * given and reports through a callback, so the unit tests drive it with any
 * environment they like. It must not allocate: it runs in the constructor.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/config.h"
#include "agent/http.h"

/* The defaults as a static initialiser, so that hooks running before the
 * constructor (other libraries' constructors call in early) see the real
 * defaults, not a zero struct. config_load() starts from a copy; the unit
 * tests check that it equals what parsing the defaults gives. */
const struct config config_default = {
	.output = CFG_OUTPUT_TEXT,
	.epoll = CFG_EPOLL_SINGLE,
	.header = "X-Request-Id",
	.header_len = sizeof "X-Request-Id" - 1,
	.format = "[%i] ",
	.segs = { { 0, 0, 1, 0 }, { 'i', 1, 0, 0 }, { 0, 3, 2, 0 } },  /* "[" %i "] " */
	.nsegs = 3,
	.children = true,
	.crash = true,
	.bridges = CFG_BRIDGE_ALL,
	.propagate = CFG_PROP_ALL,
	.response_id = true,
	.tag_stderr = true,
	.sample_parent = true,
	.sample_bound = UINT64_MAX,
};
const struct config *agent_config = &config_default;

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

struct var;

/* A parser stores the value `v` in `c` and returns NULL, or leaves `c`
 * alone and returns what is accepted (the report's wording). */
typedef const char *parse_fn(struct config *c, const char *v, const struct var *var);

struct var {
	struct config_var pub;
	parse_fn *parse;
	size_t field;             /* parse_bool: offsetof the bool it sets */
};

/* Every boolean variable: 1/true/yes/on or 0/false/no/off, any case. An
 * empty value means the variable is not set (`REQCTX_CRASH= cmd` is how a
 * shell unsets it for one command): the default stays, nothing is
 * reported. */
static const char *parse_bool(struct config *c, const char *v, const struct var *var)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };
	bool *field = (bool *)((char *)c + var->field);

	if (v[0] == '\0')
		return NULL;
	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*field = true;
			return NULL;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*field = false;
			return NULL;
		}
	}
	return "expected 1/true/yes/on or 0/false/no/off";
}

static const char *parse_output(struct config *c, const char *v, const struct var *var)
{
	(void)var;
	if (strcmp(v, "text") == 0)
		c->output = CFG_OUTPUT_TEXT;
	else if (strcmp(v, "json") == 0)
		c->output = CFG_OUTPUT_JSON;
	else
		return "expected \"text\" or \"json\"";
	return NULL;
}

static const char *parse_epoll(struct config *c, const char *v, const struct var *var)
{
	(void)var;
	if (strcmp(v, "single") == 0)
		c->epoll = CFG_EPOLL_SINGLE;
	else if (strcmp(v, "batch") == 0)
		c->epoll = CFG_EPOLL_BATCH;
	else
		return "expected \"single\" or \"batch\"";
	c->epoll_set = true;
	return NULL;
}

static const char *parse_header(struct config *c, const char *v, const struct var *var)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= CFG_HEADER_MAX;

	(void)var;
	for (size_t i = 0; ok && i < n; i++)
		ok = http_is_tchar((unsigned char)v[i]);
	if (!ok)
		return "expected a header name of 1 to 64 token characters";
	memcpy(c->header, v, n + 1);
	c->header_len = n;
	return NULL;
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
		struct cfg_seg s = { 0, (uint8_t)i, 0, 0 };
		unsigned char ch = (unsigned char)v[i];

		if (ns == CFG_FORMAT_SEGS)
			return "too many fields";
		if (ch == '%') {
			char f = v[i + 1];

			if (f == '%') {          /* a literal '%' */
				s.off = (uint8_t)(i + 1);
				s.len = 1;
			} else if (f && strchr("itsPpT", f)) {
				s.field = f;
			} else if (f == '{') {
				/* %{name}: a REQCTX_FIELDS field, resolved once
				 * every variable is read (fields_resolve). */
				const char *close = strchr(v + i + 2, '}');

				if (close == NULL || close == v + i + 2 ||
				    close - (v + i + 2) > CFG_FIELD_NAME_MAX)
					return "%{ needs a field name and a closing }";
				s.field = 'f';
				s.off = (uint8_t)(i + 2);
				s.len = (uint8_t)(close - (v + i + 2));
				c->segs[ns++] = s;
				i = (size_t)(close - v) + 1;
				continue;
			} else {
				return "unknown directive (known: %i %t %s %P %p %T %{field} %%)";
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

static const char *parse_format(struct config *c, const char *v, const struct var *var)
{
	const char *why = compile_format(c, v);

	(void)var;
	if (why) {                /* compile_format may have written part */
		memcpy(c->format, config_default.format, sizeof c->format);
		memcpy(c->segs, config_default.segs, sizeof c->segs);
		c->nsegs = config_default.nsegs;
	}
	return why;
}

static const char *parse_debug(struct config *c, const char *v, const struct var *var)
{
	size_t n = strlen(v);

	(void)var;
	if (n > CFG_PATH_MAX)
		return "expected a file path of at most 1024 bytes";
	memcpy(c->debug_path, v, n + 1);
	return NULL;
}

/* "all", "none" or a comma-separated list of node, python, ruby. */
static const char *parse_bridges(struct config *c, const char *v, const struct var *var)
{
	static const struct { const char *name; unsigned bit; } kinds[] = {
		{ "node", CFG_BRIDGE_NODE }, { "python", CFG_BRIDGE_PYTHON },
		{ "ruby", CFG_BRIDGE_RUBY },
	};
	unsigned bits = 0;
	const char *p = v;

	(void)var;
	if (strcasecmp(v, "all") == 0 || strcasecmp(v, "none") == 0) {
		c->bridges = strcasecmp(v, "all") == 0 ? CFG_BRIDGE_ALL : 0;
		return NULL;
	}
	for (;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].name) == len &&
			    strncasecmp(p, kinds[i].name, len) == 0)
				break;
		if (i == sizeof kinds / sizeof kinds[0])
			return "expected all, none or a list of node,python,ruby";
		bits |= kinds[i].bit;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	c->bridges = bits;
	return NULL;
}

/* Written by the agent itself; its content is checked where it is used
 * (agent/inherit.c). Too long to be valid: ignored, never reported. */
/* An internal variable's value, kept unchecked for agent/inherit.c (which
 * checks it); one longer than `max` is none. */
static void keep_value(char *dst, size_t max, const char *v)
{
	size_t n = strlen(v);

	if (n <= max)
		memcpy(dst, v, n + 1);
}

static const char *parse_parent(struct config *c, const char *v, const struct var *var)
{
	(void)var;
	keep_value(c->parent, CFG_PARENT_MAX, v);
	return NULL;
}

static const char *parse_parent_state(struct config *c, const char *v, const struct var *var)
{
	(void)var;
	keep_value(c->parent_state, CFG_PARENT_STATE_MAX, v);
	return NULL;
}

/* "stderr", "stdout", absolute paths and glob patterns (`*`, `?`, `[...]`),
 * comma-separated; at least one. */
static const char *parse_tag(struct config *c, const char *v, const struct var *var)
{
	static const char accepted[] =
		"expected a comma-separated list of stderr, stdout and absolute file paths "
		"or glob patterns (at most 16, 1024 bytes)";
	struct config t = *c;
	const char *p = v;
	size_t used = 0;

	(void)var;
	if (strlen(v) > CFG_TAG_MAX)
		return accepted;
	t.tag_stderr = t.tag_stdout = false;
	t.tag_npaths = 0;
	for (;;) {
		size_t len = strcspn(p, ",");

		if (len == 6 && strncmp(p, "stderr", 6) == 0) {
			t.tag_stderr = true;
		} else if (len == 6 && strncmp(p, "stdout", 6) == 0) {
			t.tag_stdout = true;
		} else {
			if (len < 2 || p[0] != '/' || t.tag_npaths == CFG_TAG_PATHS)
				return accepted;
			for (size_t i = 0; i < len; i++)
				if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
					return accepted;
			t.tag_path[t.tag_npaths++] = (uint16_t)used;
			memcpy(t.tag_paths + used, p, len);
			t.tag_paths[used + len] = '\0';
			used += len + 1;
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*c = t;
	return NULL;
}

/* "all", "none"/"off", or a comma-separated list of traceparent, request-id
 * and baggage. */
static const char *parse_propagate(struct config *c, const char *v, const struct var *var)
{
	static const struct { const char *name; unsigned bit; } kinds[] = {
		{ "traceparent", CFG_PROP_TRACEPARENT }, { "request-id", CFG_PROP_ID },
		{ "baggage", CFG_PROP_BAGGAGE },
	};
	const char *p = v;
	unsigned bits = 0;

	(void)var;
	if (strcasecmp(v, "all") == 0 || strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0) {
		c->propagate = CFG_PROP_ALL;
		return NULL;
	}
	if (strcasecmp(v, "none") == 0 || strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0) {
		c->propagate = 0;
		return NULL;
	}
	for (;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].name) == len && strncasecmp(p, kinds[i].name, len) == 0)
				break;
		if (i == sizeof kinds / sizeof kinds[0])
			return "expected all, none or a list of traceparent,request-id,baggage";
		bits |= kinds[i].bit;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	c->propagate = bits;
	return NULL;
}

static bool is_field_name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
}

/* Why a field may not take this name, or NULL: a member of a JSON line
 * that is not a field (agent/format.c), or a field's already, which the
 * object would repeat. */
static const char *field_name_taken(const char *name, size_t len, const struct cfg_field *f, int n)
{
	static const char *const ours[] = { "time", "request_id", "trace_id", "span_id", "pid",
					    "tid", "message" };

	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
		if (strlen(ours[i]) == len && memcmp(ours[i], name, len) == 0)
			return "a field name is one of the JSON line's own members "
			       "(time, request_id, trace_id, span_id, pid, tid, message)";
	for (int i = 0; i < n; i++)
		if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0)
			return "a field name is given twice";
	return NULL;
}

/* name=Header[,name=Header...]: at most 8; names of [a-z0-9_.] (they
 * become JSON members and baggage keys as they are), each once and none
 * of the JSON line's own members; headers tokens. */
static const char *parse_fields(struct config *c, const char *v, const struct var *var)
{
	static const char *const why =
		"expected name=Header,... (at most 8; names of a-z 0-9 _ . up to 32 bytes)";
	struct cfg_field f[CFG_FIELDS];
	const char *p = v, *taken;
	int n = 0;

	(void)var;
	if (v[0] == '\0')
		return NULL;
	for (;;) {
		size_t len = strcspn(p, ","), nl;
		const char *eq = memchr(p, '=', len);

		if (eq == NULL || n == CFG_FIELDS)
			return why;
		nl = (size_t)(eq - p);
		if (nl == 0 || nl > CFG_FIELD_NAME_MAX || len - nl - 1 == 0 ||
		    len - nl - 1 > CFG_HEADER_MAX)
			return why;
		for (size_t i = 0; i < nl; i++)
			if (!is_field_name_char((unsigned char)p[i]))
				return why;
		for (size_t i = nl + 1; i < len; i++)
			if (!http_is_tchar((unsigned char)p[i]))
				return why;
		if ((taken = field_name_taken(p, nl, f, n)) != NULL)
			return taken;
		memcpy(f[n].name, p, nl);
		f[n].name[nl] = '\0';
		f[n].name_len = (uint8_t)nl;
		memcpy(f[n].header, eq + 1, len - nl - 1);
		f[n].header[len - nl - 1] = '\0';
		f[n].header_len = (uint8_t)(len - nl - 1);
		n++;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	memcpy(c->fields, f, sizeof f[0] * (size_t)n);
	c->nfields = n;
	return NULL;
}

static const char *parse_spans(struct config *c, const char *v, const struct var *var)
{
	size_t n = strlen(v);

	(void)var;
	if (n > CFG_PATH_MAX)
		return "expected a file path of at most 1024 bytes";
	memcpy(c->spans_path, v, n + 1);
	return NULL;
}

#define BOOL(field) parse_bool, offsetof(struct config, field)

/* Every variable the agent reads, in the order of its documentation. The
 * unknown-variable report, the wrapper's --help test and the man page test
 * (through build/config-vars) all come from this table. */
static const struct var vars[] = {
	{ { "REQCTX_FORMAT", "\"[%i] \"", false }, parse_format, 0 },
	{ { "REQCTX_OUTPUT", "\"text\"", false }, parse_output, 0 },
	{ { "REQCTX_HEADER", "\"X-Request-Id\"", false }, parse_header, 0 },
	{ { "REQCTX_EPOLL", "\"single\"", false }, parse_epoll, 0 },
	{ { "REQCTX_DISABLE", "0 (enabled)", false }, BOOL(disabled) },
	{ { "REQCTX_DEBUG", "no diagnostics", false }, parse_debug, 0 },
	{ { "REQCTX_CRASH", "1 (crash reports on)", false }, BOOL(crash) },
	{ { "REQCTX_CHILDREN", "1 (children inherit)", false }, BOOL(children) },
	{ { "REQCTX_BRIDGES", "all", false }, parse_bridges, 0 },
	{ { "REQCTX_PROPAGATE", "all", false }, parse_propagate, 0 },
	{ { "REQCTX_RESPONSE_ID", "1 (responses get the request ID)", false }, BOOL(response_id) },
	{ { "REQCTX_FIELDS", "no fields", false }, parse_fields, 0 },
	{ { "REQCTX_SPANS", "no spans", false }, parse_spans, 0 },
	{ { "REQCTX_TAG", "stderr", false }, parse_tag, 0 },
	{ { "REQCTX_PARENT", "no inherited context", true }, parse_parent, 0 },
	{ { "REQCTX_PARENT_STATE", "no inherited tracestate", true }, parse_parent_state, 0 },
};
#define NVARS (sizeof vars / sizeof vars[0])

const struct config_var *config_var(size_t i)
{
	return i < NVARS ? &vars[i].pub : NULL;
}

void config_defaults(struct config *c)
{
	*c = config_default;
}

/* "reqctx: unknown variable NAME ignored (known: ...)", the known list
 * being the table's user variables. */
static void unknown(struct reporter *r, const char *e, size_t nlen)
{
	char name[80], q[340], line[800];
	int o;

	snprintf(name, sizeof name, "%.*s", (int)(nlen < 64 ? nlen : 64), e);
	quote(q, sizeof q, name);
	o = snprintf(line, sizeof line, "reqctx: unknown variable %s ignored (known:", q);
	for (size_t i = 0; i < NVARS; i++)
		if (!vars[i].pub.internal && o > 0 && (size_t)o < sizeof line)
			o += snprintf(line + o, sizeof line - (size_t)o, "%s %s",
				      o > 0 && line[o - 1] == ':' ? "" : ",", vars[i].pub.name);
	if (o > 0 && (size_t)o < sizeof line)
		snprintf(line + o, sizeof line - (size_t)o, ")\n");
	r->count++;
	if (r->fn)
		r->fn(line, r->arg);
}

/* OTEL_TRACES_SAMPLER (OpenTelemetry's SDK environment variables): the
 * samplers that decide by the trace alone. Their default, and what a
 * value not among them gets, is parentbased_always_on. */
static const struct {
	const char *name;
	bool parent;
	int root;                 /* 1 always, 0 never, -1 by the ratio */
} samplers[] = {
	{ "parentbased_always_on", true, 1 }, { "parentbased_always_off", true, 0 },
	{ "parentbased_traceidratio", true, -1 }, { "always_on", false, 1 },
	{ "always_off", false, 0 }, { "traceidratio", false, -1 },
};

/* OTEL_TRACES_SAMPLER_ARG for the ratio samplers: a probability in
 * [0, 1] (decimal, as strtod reads it; default 1.0). The bound a trace
 * ID's lower 63 bits are compared with (struct ctx_sampling). */
static uint64_t ratio_bound(double r)
{
	return r >= 1.0 ? UINT64_MAX : (uint64_t)(r * 9223372036854775808.0);
}

/* A plain decimal number (digits, at most one '.', at least one digit;
 * spaces around it), or -1: no exponent, hex, sign or words. */
static double decimal(const char *v)
{
	const char *p = v;
	size_t digits = 0, dots = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	for (const char *q = p; *q && *q != ' ' && *q != '\t'; q++) {
		if (*q >= '0' && *q <= '9')
			digits++;
		else if (*q == '.')
			dots++;
		else
			return -1.0;
	}
	for (const char *q = p + digits + dots; *q; q++)
		if (*q != ' ' && *q != '\t')
			return -1.0;
	return digits && dots <= 1 ? strtod(p, NULL) : -1.0;
}

/* Both variables, once all are read: the argument only means something
 * to the sampler named. */
static void sampler_resolve(struct config *c, struct reporter *r, const char *name,
			    const char *arg)
{
	int root = 1;
	double ratio = 1.0;

	c->sample_parent = true;
	if (name) {
		size_t i, n;

		/* (enumerated values in any case, as OpenTelemetry reads them,
		 * and spaces around them) */
		while (*name == ' ' || *name == '\t')
			name++;
		for (n = strlen(name); n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'); n--)
			;
		for (i = 0; i < sizeof samplers / sizeof samplers[0]; i++)
			if (strlen(samplers[i].name) == n && strncasecmp(name, samplers[i].name, n) == 0)
				break;
		if (i == sizeof samplers / sizeof samplers[0]) {
			bad(r, "OTEL_TRACES_SAMPLER", name,
			    "always_on, always_off, traceidratio or parentbased_ and one of them",
			    "parentbased_always_on");
		} else {
			c->sample_parent = samplers[i].parent;
			root = samplers[i].root;
		}
	}
	if (root < 0 && arg) {
		double v = decimal(arg);

		if (!(v >= 0.0 && v <= 1.0))
			bad(r, "OTEL_TRACES_SAMPLER_ARG", arg, "a probability from 0 to 1", "1.0");
		else
			ratio = v;
	}
	c->sample_bound = root > 0 ? UINT64_MAX : root == 0 ? 0 : ratio_bound(ratio);
}

/* OpenTelemetry's variables, kept raw for the span writer. */
static bool otel_var(struct config *c, const char *e)
{
	static const struct { const char *name; size_t off; } otel[] = {
		{ "OTEL_SERVICE_NAME=", offsetof(struct config, otel_service) },
		{ "OTEL_RESOURCE_ATTRIBUTES=", offsetof(struct config, otel_resource) },
	};

	for (size_t i = 0; i < sizeof otel / sizeof otel[0]; i++) {
		size_t nl = strlen(otel[i].name);

		if (strncmp(e, otel[i].name, nl) == 0) {
			snprintf((char *)c + otel[i].off, CFG_OTEL_MAX + 1, "%s", e + nl);
			return true;
		}
	}
	return false;
}

/* %{name} in REQCTX_FORMAT names a REQCTX_FIELDS field: known only once
 * every variable is read. */
static void fields_resolve(struct config *c, struct reporter *r)
{
	for (int i = 0; i < c->nsegs; i++) {
		struct cfg_seg *s = &c->segs[i];
		int k;

		if (s->field != 'f')
			continue;
		for (k = 0; k < c->nfields; k++)
			if (c->fields[k].name_len == s->len &&
			    memcmp(c->fields[k].name, c->format + s->off, s->len) == 0)
				break;
		if (k == c->nfields) {
			char v[CFG_FORMAT_MAX + 1];

			memcpy(v, c->format, sizeof v);
			memcpy(c->format, config_default.format, sizeof c->format);
			memcpy(c->segs, config_default.segs, sizeof c->segs);
			c->nsegs = config_default.nsegs;
			bad(r, "REQCTX_FORMAT", v, "%{name} must name a REQCTX_FIELDS field",
			    "\"[%i] \"");
			return;
		}
		s->arg = (uint8_t)k;
	}
}

int config_load(struct config *c, char *const *env,
		void (*report)(const char *line, void *arg), void *arg)
{
	struct reporter r = { report, arg, 0 };
	const char *sampler = NULL, *sampler_arg = NULL;

	config_defaults(c);
	for (; env && *env; env++) {
		const char *e = *env, *eq = strchr(e, '=');
		const struct var *var = NULL;
		size_t nlen;

		if (strncmp(e, "OTEL_", 5) == 0) {
			if (strncmp(e, "OTEL_TRACES_SAMPLER=", 20) == 0)
				sampler = e + 20;
			else if (strncmp(e, "OTEL_TRACES_SAMPLER_ARG=", 24) == 0)
				sampler_arg = e + 24;
			else
				otel_var(c, e);
			continue;
		}
		if (strncmp(e, "REQCTX_", 7) != 0 || eq == NULL)
			continue;
		nlen = (size_t)(eq - e);
		for (size_t i = 0; !var && i < NVARS; i++)
			if (strlen(vars[i].pub.name) == nlen &&
			    memcmp(vars[i].pub.name, e, nlen) == 0)
				var = &vars[i];
		if (var == NULL) {
			unknown(&r, e, nlen);
		} else {
			const char *accepted = var->parse(c, eq + 1, var);

			if (accepted)
				bad(&r, var->pub.name, eq + 1, accepted, var->pub.used);
		}
	}
	fields_resolve(c, &r);
	/* (an empty value is no value: OpenTelemetry's rule) */
	sampler_resolve(c, &r, sampler && *sampler ? sampler : NULL,
			sampler_arg && *sampler_arg ? sampler_arg : NULL);
	return r.count;
}
