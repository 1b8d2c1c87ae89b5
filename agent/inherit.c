/*
 * inherit.c - REQCTX_PARENT="<request id>;<trace id>;<flags>". What it
 * carries is checked again on the way in like any header: an ID outside
 * the allowed alphabet or a malformed trace is ignored.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "base/debug.h"
#include "base/ctx.h"
#include "agent/http.h"
#include "agent/inherit.h"

_Static_assert(CFG_PARENT_MAX + 1 >= INHERIT_MAX - sizeof INHERIT_VAR,
	       "struct config's parent holds any value inherit_env() writes");

static const char *self_path(void)
{
	static const char *path;
	Dl_info info;

	if (path == NULL && dladdr((void *)inherit_env, &info) && info.dli_fname)
		path = info.dli_fname;
	return path;
}

static bool is_var(const char *e, const char *name)
{
	size_t n = strlen(name);

	return strncmp(e, name, n) == 0 && e[n] == '=';
}

size_t inherit_env_slots(char *const *env)
{
	size_t n = 0;

	while (env && env[n])
		n++;
	return n + 2;
}

size_t inherit_scratch_size(char *const *env)
{
	size_t n = INHERIT_MAX;

	for (; env && *env; env++)
		if (is_var(*env, "LD_PRELOAD"))
			n += strlen(*env) + 1;
	return n;
}

/* "LD_PRELOAD=..." without entries naming this agent. */
static char *strip_agent(const char *e, char *dst)
{
	const char *self = self_path(), *p = e + sizeof "LD_PRELOAD=" - 1;
	char *o = dst + sprintf(dst, "LD_PRELOAD=");
	bool first = true;

	while (*p) {
		size_t len = strcspn(p, ": ");
		const char *base = memrchr(p, '/', len);
		size_t blen;

		base = base ? base + 1 : p;
		blen = len - (size_t)(base - p);
		if (len && !(blen == sizeof "libreqctx.so" - 1 &&
			     memcmp(base, "libreqctx.so", blen) == 0) &&
		    !(self && strlen(self) == len && memcmp(self, p, len) == 0)) {
			if (!first)
				*o++ = ':';
			memcpy(o, p, len);
			o += len;
			first = false;
		}
		p += len;
		if (*p)
			p++;
	}
	*o = '\0';
	return dst;
}

void inherit_env(char *const *env, char **out, char *scratch)
{
	bool children = agent_config->children;
	struct ctx *c = agent_self.cur;
	size_t n = 0;

	for (; env && *env; env++) {
		if (is_var(*env, INHERIT_VAR))
			continue;
		if (!children && is_var(*env, "LD_PRELOAD")) {
			out[n++] = strip_agent(*env, scratch + INHERIT_MAX);
			continue;
		}
		out[n++] = *env;
	}
	if (children && c) {
		const struct ctx_name *nm = ctx_name(c);   /* one name, read once */

		snprintf(scratch, INHERIT_MAX, INHERIT_VAR "=%s;%s;%02x",
			 nm->id, nm->trace_id, nm->trace_flags);
		out[n++] = scratch;
	}
	out[n] = NULL;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void inherit_adopt(void)
{
	const char *v = agent_config->parent, *semi, *trace;
	struct ctx_seed seed = { 0 };
	char id[HTTP_ID_MAX + 1];
	size_t idlen;

	semi = strchr(v, ';');
	if (semi && agent_config->children) {
		idlen = (size_t)(semi - v);
		trace = semi + 1;
		if (idlen <= HTTP_ID_MAX && http_valid_id(v, idlen) &&
		    strlen(trace) == 35 && lower_hex(trace, 32) && trace[32] == ';' &&
		    lower_hex(trace + 33, 2)) {
			memcpy(id, v, idlen);
			id[idlen] = '\0';
			seed.id = id;
			seed.id_len = idlen;
			seed.trace_id = trace;
			seed.trace_flags = (uint8_t)strtoul(trace + 33, NULL, 16);
			ctx_take_current(ctx_new(&seed));
			DEBUG("start %s (inherited from the parent process through exec)", id);
		}
	}
	/* Only this process starts in it: its own children get it through
	 * exec again, from whatever is current then. */
	unsetenv(INHERIT_VAR);
}
