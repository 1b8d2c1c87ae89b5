/*
 * inherit.c - REQCTX_PARENT="<request id>;<trace id>;<flags>;<span id>;<files>",
 * the span ID the one the child works in (the request's own where the
 * parent records it: the child's client spans are its children; else the
 * caller's, or empty), <files> "<dev>:<ino>" of the parent's
 * log and, when its stdout is
 * tagged, ":<dev>:<ino>" of that file. What it carries is checked again on
 * the way in like any header: an ID outside the allowed alphabet or a
 * malformed trace is ignored.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "base/debug.h"
#include "base/ctx.h"
#include "agent/http.h"
#include "agent/inherit.h"
#include "agent/out.h"
#include "agent/out_fd.h"
#include "agent/spans.h"

struct ctx *inherit_home;
int inherit_nested_epfd = -1;
int inherit_fed;
int inherit_stdin_top = -1;
uint64_t inherit_stdin_fds;

/* This thread's last read of fd 0 (inherit_stdin_read): whether there
 * was one, and its `outputs` then. */
static AGENT_TLS bool stdin_read_once;
static AGENT_TLS unsigned stdin_read_outputs;

/* inherit_stdin_fds changed by set and clear (under no lock: the
 * fd-table events of one process; a race loses a copy's watch, which
 * leaves that copy's reads carrying what they did before this rule). */
static void stdin_fds_set(uint64_t set, uint64_t clear)
{
	uint64_t m = (__atomic_load_n(&inherit_stdin_fds, __ATOMIC_RELAXED) & ~clear) | set;

	__atomic_store_n(&inherit_stdin_fds, m, __ATOMIC_RELAXED);
	__atomic_store_n(&inherit_stdin_top, m ? 63 - __builtin_clzll(m) : -1, __ATOMIC_RELAXED);
}

void inherit_stdin_copied(int from, int to)
{
	if (__atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED) < 0 || (unsigned)to >= 64)
		return;
	if (inherit_stdin_fd(from))
		stdin_fds_set(1ull << to, 0);
	else if (inherit_stdin_fd(to))
		stdin_fds_set(0, 1ull << to);
}

/* Whether absolute `path` names the process's fd 0 by one of the kernel's
 * names for it: /dev/stdin, /dev/fd/0, /proc/self/fd/0,
 * /proc/thread-self/fd/0, /proc/<pid>/fd/0 or /proc/<pid or
 * self>/task/<tid>/fd/0, spelled with repeated slashes, "." and ".."
 * components or not (resolved as names, as the kernel does for these,
 * none of whose components up to fd 0 is a link of the program's). No
 * system call: a name that reaches fd 0 through a link of the program's
 * own, or relative to a directory, is not seen. */
static bool names_stdin(const char *path)
{
	char n[64], pid[24];
	size_t o = 0, plen;
	const char *p = path, *rest;

	while (*p) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		for (e = p; *e && *e != '/'; e++)
			;
		len = (size_t)(e - p);
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && n[--o] != '/')
				;                     /* back to the parent */
		} else if (len > 0) {
			if (o + 1 + len >= sizeof n)
				return false;
			n[o++] = '/';
			memcpy(n + o, p, len);
			o += len;
		}
		p = e;
	}
	n[o] = '\0';
	if (strcmp(n, "/dev/stdin") == 0 || strcmp(n, "/dev/fd/0") == 0 ||
	    strcmp(n, "/proc/thread-self/fd/0") == 0)
		return true;
	if (strncmp(n, "/proc/", 6) != 0)
		return false;
	rest = n + 6;
	snprintf(pid, sizeof pid, "%ld", (long)agent_pid);
	plen = strlen(pid);
	if (strncmp(rest, "self/", 5) == 0)
		rest += 5;
	else if (strncmp(rest, pid, plen) == 0 && rest[plen] == '/')
		rest += plen + 1;
	else
		return false;
	if (strncmp(rest, "task/", 5) == 0) {     /* task/<tid>/: any of ours */
		rest += 5;
		while (*rest >= '0' && *rest <= '9')
			rest++;
		if (*rest++ != '/')
			return false;
	}
	return strcmp(rest, "fd/0") == 0;
}

void inherit_stdin_opened(int fd, const char *path)
{
	/* top >= 0 only while fed: the watch is set with inherit_fed and
	 * cleared with it (inherit_own_requests). */
	if (__atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED) < 0 || (unsigned)fd >= 64 ||
	    path == NULL || path[0] != '/')
		return;
	if (names_stdin(path))
		stdin_fds_set(1ull << fd, 0);
}

void inherit_stdin_gone(int fd)
{
	if (inherit_stdin_fd(fd))
		stdin_fds_set(0, 1ull << fd);
}

void inherit_own_requests(void)
{
	struct ctx *c;

	__atomic_store_n(&inherit_fed, 0, __ATOMIC_RELAXED);
	stdin_fds_set(0, ~0ull);
	c = __atomic_exchange_n(&inherit_home, NULL, __ATOMIC_ACQ_REL);

	ctx_put(c);
}

void inherit_epoll_created(int epfd)
{
	if (agent_self.bridge_loop && __atomic_load_n(&inherit_home, __ATOMIC_RELAXED) != NULL)
		__atomic_store_n(&inherit_nested_epfd, epfd, __ATOMIC_RELAXED);
}

static bool stdin_forked;        /* inherit_fork_child */
/* Children this thread started (inherit_child_started), counted with its
 * lines for the stdin rule. */
static AGENT_TLS unsigned stdin_children;

void inherit_child_started(void)
{
	if (__atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED) >= 0)
		stdin_children++;
}

void inherit_fork_child(void)
{
	if (__atomic_load_n(&inherit_fed, __ATOMIC_RELAXED))
		stdin_forked = true;
}

void inherit_stdin_read(void)
{
	struct ctx *home = __atomic_load_n(&inherit_home, __ATOMIC_ACQUIRE);

	if (!__atomic_load_n(&inherit_fed, __ATOMIC_RELAXED) || home == NULL)
		return;
	/* What the thread did since its last read of the stdin: its lines,
	 * and the children it started (a helper that runs a command per job,
	 * which writes the job's lines: before, every later job's child ran
	 * in the first request, a trial, 8 of 8 lines wrong). */
	unsigned done = agent_self.outputs + stdin_children;

	if (!stdin_forked && (!stdin_read_once || done == stdin_read_outputs)) {
		/* The request's own input (a body read in several pieces),
		 * or the first job a helper was started for. */
		stdin_read_once = true;
		stdin_read_outputs = done;
		return;
	}
	/* A helper's next job: a line was written since the last read of
	 * its stdin (before, every later request's job a helper the first
	 * request started got that request's ID: t_node_child "pyhelper",
	 * 11 of 12 lines wrong). */
	DEBUG("stdin read after lines written since the last: later work, whose request is not known; %s ends here",
	      ctx_name(home)->id);
	inherit_own_requests();
	if (agent_self.cur == home)
		ctx_take_current(NULL);
}

_Static_assert(CFG_PARENT_MAX + 1 >= INHERIT_MAX - sizeof INHERIT_VAR,
	       "struct config's parent holds any value inherit_env() writes");
_Static_assert(CFG_PARENT_STATE_MAX == HTTP_TRACESTATE_MAX &&
	       INHERIT_STATE_MAX == sizeof INHERIT_STATE_VAR + HTTP_TRACESTATE_MAX + 1,
	       "REQCTX_PARENT_STATE holds any tracestate a context keeps");

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

/* The REQCTX_* settings the process started with (REQCTX_PARENT aside),
 * copied in the constructor: a child whose environment was rebuilt
 * without the agent gets them back with it. Copied, not pointed to: some
 * programs write their process title over the initial environment block
 * (nginx, PostgreSQL). */
#define KEPT_MAX 24
#define KEPT_BYTES 2048
static char kept_text[KEPT_BYTES];
static const char *kept[KEPT_MAX];
static unsigned nkept;

/* "LD_PRELOAD=..." for a rebuilt environment: the start's entries up to
 * and including this agent (what it was loaded after stays before it: a
 * sanitizer's runtime must come first), or this agent alone. */
static char kept_preload[1024];
/* The process's own LD_PRELOAD named this agent (not /etc/ld.so.preload,
 * which loads it into every child whatever its environment says). */
static bool preloaded_by_env;

static bool names_agent(const char *p, size_t len)
{
	const char *self = self_path(), *base = memrchr(p, '/', len);
	size_t blen;

	base = base ? base + 1 : p;
	blen = len - (size_t)(base - p);
	return (blen == sizeof "libreqctx.so" - 1 && memcmp(base, "libreqctx.so", blen) == 0) ||
	       (self && strlen(self) == len && memcmp(self, p, len) == 0);
}

/* Appends entry p[0, len) to kept_preload as an absolute path (a child
 * may run elsewhere: a relative entry would make ld.so print an error
 * there). False when it cannot be resolved or does not fit. */
static bool keep_entry(const char *p, size_t len, size_t *used)
{
	char rel[PATH_MAX], abs[PATH_MAX];
	size_t alen;

	if (len >= sizeof rel)
		return false;
	memcpy(rel, p, len);
	rel[len] = '\0';
	/* a bare name is looked up by ld.so on its own path, as in the parent */
	if (memchr(p, '/', len) == NULL)
		memcpy(abs, rel, len + 1);
	else if (realpath(rel, abs) == NULL)
		return false;
	alen = strlen(abs);
	if (*used + 1 + alen + 1 > sizeof kept_preload)
		return false;
	if (kept_preload[*used - 1] != '=')
		kept_preload[(*used)++] = ':';
	memcpy(kept_preload + *used, abs, alen + 1);
	*used += alen;
	return true;
}

static void keep_preload(const char *start)
{
	const char *self = self_path();
	const char *list = start ? start + sizeof "LD_PRELOAD=" - 1 : "", *p = list;
	size_t used = sizeof "LD_PRELOAD=" - 1;

	memcpy(kept_preload, "LD_PRELOAD=", used + 1);
	/* Is the agent in the list? Then every entry before it too. */
	while (*p) {
		size_t len = strcspn(p, ": ");

		if (len && names_agent(p, len))
			break;
		p += len;
		if (*p)
			p++;
	}
	preloaded_by_env = *p != '\0';
	if (*p) {
		for (p = list; *p;) {
			size_t len = strcspn(p, ": ");
			bool agent = len && names_agent(p, len);

			/* the agent by the path it was loaded from (a bare name was
			 * found through an LD_LIBRARY_PATH the child may not have) */
			if (agent && self && !keep_entry(self, strlen(self), &used)) {
				kept_preload[0] = '\0';
				return;
			}
			if (len && !agent && !keep_entry(p, len, &used)) {
				kept_preload[0] = '\0';
				return;
			}
			if (agent)
				return;
			p += len;
			if (*p)
				p++;
		}
	}
	if (self == NULL || !keep_entry(self, strlen(self), &used))
		kept_preload[0] = '\0';
}

void inherit_keep_settings(char *const *env)
{
	const char *preload = NULL;
	size_t used = 0;
	int saved = errno;   /* realpath's readlink leaves EINVAL: the host's
	                        errno at main is its own */

	self_path();         /* resolved now, not in an exec after vfork */
	nkept = 0;
	for (; env && *env; env++) {
		size_t len;

		if (is_var(*env, "LD_PRELOAD"))
			preload = *env;
		if (nkept == KEPT_MAX || strncmp(*env, "REQCTX_", 7) != 0 ||
		    is_var(*env, INHERIT_VAR) || strchr(*env, '=') == NULL)
			continue;
		len = strlen(*env) + 1;
		if (used + len > KEPT_BYTES)
			continue;
		memcpy(kept_text + used, *env, len);
		kept[nkept++] = kept_text + used;
		used += len;
	}
	keep_preload(preload);
	errno = saved;
}

size_t inherit_env_slots(char *const *env)
{
	size_t n = 0;

	while (env && env[n])
		n++;
	return n + 4 + nkept;
}

/* The scratch: REQCTX_PARENT, REQCTX_PARENT_STATE, then LD_PRELOAD. */
size_t inherit_scratch_size(char *const *env)
{
	size_t n = INHERIT_MAX + INHERIT_STATE_MAX;

	for (; env && *env; env++)
		if (is_var(*env, "LD_PRELOAD"))
			n += strlen(*env) + 1;
	return n;
}

/* Whether "LD_PRELOAD=..." names this agent. */
static bool preload_names_agent(const char *e)
{
	const char *p = e + sizeof "LD_PRELOAD=" - 1;

	while (*p) {
		size_t len = strcspn(p, ": ");

		if (len && names_agent(p, len))
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

/* "LD_PRELOAD=..." without entries naming this agent. */
static char *strip_agent(const char *e, char *dst)
{
	const char *p = e + sizeof "LD_PRELOAD=" - 1;
	char *o = dst + sprintf(dst, "LD_PRELOAD=");
	bool first = true;

	while (*p) {
		size_t len = strcspn(p, ": ");

		if (len && !names_agent(p, len)) {
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

/* Set by chroot(): the agent's own path may not exist under the new root. */
static int root_changed;

void inherit_root_changed(void)
{
	self_path();                 /* resolved while the old root is there */
	__atomic_store_n(&root_changed, 1, __ATOMIC_RELAXED);
}

/* A child can load the agent: its path exists under the process's root.
 * Asked of the kernel only after a chroot() (one access() per exec then),
 * so no other process pays a system call at exec. */
static bool child_can_load(void)
{
	const char *self;

	if (!__atomic_load_n(&root_changed, __ATOMIC_RELAXED))
		return true;
	self = self_path();
	return self == NULL || access(self, R_OK) == 0;
}

void inherit_env(char *const *env, char **out, char *scratch)
{
	inherit_child_started();
	/* Where the child cannot load the agent, ld.so would print an error
	 * line: the agent and the context stay out of its environment. */
	bool children = agent_config->children && child_can_load();
	struct ctx *c = ctx_carried();
	char *const *first = env;
	bool preload = false, cgi = false, settings = false, agent_in = false;
	size_t n = 0;

	for (; env && *env; env++) {
		if (is_var(*env, INHERIT_VAR) || is_var(*env, INHERIT_STATE_VAR))
			continue;
		if (strncmp(*env, "GATEWAY_INTERFACE=CGI/", 22) == 0)
			cgi = true;
		if (strncmp(*env, "REQCTX_", 7) == 0)
			settings = true;
		if (is_var(*env, "LD_PRELOAD")) {
			preload = true;
			agent_in = agent_in || preload_names_agent(*env);
			if (!children) {
				out[n++] = strip_agent(*env, scratch + INHERIT_MAX + INHERIT_STATE_MAX);
				continue;
			}
		}
		out[n++] = *env;
	}
	/* A child whose own LD_PRELOAD leaves the agent out (the program
	 * preloads something else of its own) does not load it: nothing of
	 * the agent's goes into its environment (before, REQCTX_PARENT did). */
	if (preload && !agent_in && preloaded_by_env)
		children = false;
	if (children && kept_preload[0] && (!preload || !settings)) {
		/* An environment rebuilt without the agent (env -i, a CGI's
		 * environment made by its server): the agent and the settings
		 * the process started with go back in, each setting only where
		 * the new environment has no value of its own. One rebuilt with
		 * LD_PRELOAD passed on but no REQCTX_* setting (lighttpd passes
		 * LD_PRELOAD to its CGIs) gets the settings back. A
		 * secure-execution child (set-user-ID) is not loaded into:
		 * ld.so ignores it. */
		if (!preload)
			out[n++] = kept_preload;
		for (unsigned i = 0; i < nkept; i++) {
			size_t name = (size_t)(strchr(kept[i], '=') - kept[i]);
			bool has = false;

			for (char *const *e = first; e && *e && !has; e++)
				has = strncmp(*e, kept[i], name + 1) == 0;
			if (!has)
				out[n++] = (char *)kept[i];
		}
	}
	/* A CGI program's request is the one its environment describes (RFC
	 * 3875): a process that runs it for a connection whose protocol the
	 * agent does not understand (Apache's cgid daemon, handed the request
	 * over a Unix socket) has only that connection's context, not the
	 * request's: the child gets none from it (it adopts the request's
	 * header from its environment, inherit_adopt). */
	if (cgi && c && __atomic_load_n(&c->session, __ATOMIC_RELAXED))
		c = NULL;
	if (children) {
		/* The log's identity goes along, with or without a context: the
		 * child tags its fd 2 only when it is the same file. */
		dev_t dev, odev;
		ino_t ino, oino;
		bool log = out_log_identity(&dev, &ino);
		bool tagged_out = out_stdout_identity(&odev, &oino);
		const struct ctx_name *nm = c ? ctx_name(c) : NULL;   /* read once */
		char files[80];

		/* "<dev>:<ino>" of the log, then ":<dev>:<ino>" of a tagged
		 * stdout: the child tags its fds 2 and 1 only on those files. */
		snprintf(files, sizeof files, "%lx:%lx",
			 log ? (unsigned long)dev : 0UL, log ? (unsigned long)ino : 0UL);
		if (tagged_out)
			snprintf(files + strlen(files), sizeof files - strlen(files), ":%lx:%lx",
				 (unsigned long)odev, (unsigned long)oino);
		/* The span the child works in: the request's where this
		 * process records it, else the nearest recorded one, the
		 * caller's (or none). */
		if (nm)
			snprintf(scratch, INHERIT_MAX, INHERIT_VAR "=%s;%s;%02x;%s;%s",
				 nm->id, nm->trace_id, nm->trace_flags,
				 spans_record(nm->trace_flags) ? c->span_id : nm->parent_id, files);
		else
			snprintf(scratch, INHERIT_MAX, INHERIT_VAR "=;;;%s", files);
		if (c || log || tagged_out)
			out[n++] = scratch;
		/* The trace's tracestate goes with it (W3C Trace Context
		 * 3.3.1: passed on with the traceparent the child sends). */
		if (nm && nm->tracestate && nm->tracestate_len <= HTTP_TRACESTATE_MAX) {
			snprintf(scratch + INHERIT_MAX, INHERIT_STATE_MAX, INHERIT_STATE_VAR "=%s", nm->tracestate);
			out[n++] = scratch + INHERIT_MAX;
		}
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

/* "<dev>:<ino>" of the parent's log, optionally ":<dev>:<ino>" of its
 * tagged stdout, in lower-case hex, into f[0..3]. Returns false if
 * malformed. */
static bool parse_files(const char *p, unsigned long f[4])
{
	int nf = 0;
	char *end;

	for (;;) {
		if (!lower_hex(p, 1))
			return false;
		f[nf++] = strtoul(p, &end, 16);
		if (*end == '\0')
			return nf == 2 || nf == 4;
		if (*end != ':' || nf == 4)
			return false;
		p = end + 1;
	}
}

/* A CGI program's request (RFC 3875, section 4.1.18: each request header
 * as HTTP_<NAME>, upper case, '-' as '_'): the REQCTX_HEADER header's
 * value, valid as a header's would be, into id[]; its traceparent, if
 * valid, into trace[], parent[] and *flags. Returns the ID's length, 0 when
 * this is not a CGI program or the header is absent or invalid. */
static size_t cgi_request(char id[HTTP_ID_MAX + 1], char trace[33], char parent[17],
			  uint8_t *flags, bool *has_trace)
{
	const char *gi = getenv("GATEWAY_INTERFACE"), *v, *tp;
	char name[sizeof "HTTP_" + CFG_HEADER_MAX];
	size_t n, i;

	*has_trace = false;
	if (gi == NULL || strncmp(gi, "CGI/", 4) != 0)
		return 0;
	memcpy(name, "HTTP_", 5);
	for (i = 0; i < agent_config->header_len && i < CFG_HEADER_MAX; i++) {
		char ch = agent_config->header[i];

		name[5 + i] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
	}
	name[5 + i] = '\0';
	v = getenv(name);
	if (v == NULL || (n = strlen(v)) == 0 || n > HTTP_ID_MAX || !http_valid_id(v, n))
		return 0;
	memcpy(id, v, n);
	id[n] = '\0';
	tp = getenv("HTTP_TRACEPARENT");
	if (tp && http_parse_traceparent(tp, strlen(tp), trace, parent, flags))
		*has_trace = true;
	return n;
}

/* Whether `fd` is open on a pipe or a socket: something another process
 * may write more work into. */
static bool channel_at(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

void inherit_adopt(void)
{
	const char *v = agent_config->parent, *semi, *trace;
	struct ctx_seed seed = { 0 };
	char id[HTTP_ID_MAX + 1], cgi_id[HTTP_ID_MAX + 1], cgi_trace[33], cgi_parent[17], span[17];
	char state[HTTP_TRACESTATE_MAX + 1];
	uint8_t cgi_flags = 0;
	bool cgi_has_trace;
	size_t idlen, cgi_len = cgi_request(cgi_id, cgi_trace, cgi_parent, &cgi_flags, &cgi_has_trace);
	bool parent_named = false;

	/* The parent's files: the last field. */
	if (v[0] != '\0') {
		const char *last = strrchr(v, ';');
		unsigned long f[4] = { 0 };

		if (last && parse_files(last + 1, f) && (f[1] != 0 || f[3] != 0) &&
		    agent_config->children)
			out_set_parent_log((dev_t)f[0], (ino_t)f[1], (dev_t)f[2], (ino_t)f[3]);
		else if (last && parse_files(last + 1, f) && agent_config->children)
			out_parent_tagged_nothing();
	}
	semi = v[0] != '\0' ? strchr(v, ';') : NULL;
	if (semi && agent_config->children) {
		idlen = (size_t)(semi - v);
		trace = semi + 1;
		if (idlen <= HTTP_ID_MAX && http_valid_id(v, idlen) &&
		    strlen(trace) >= 35 && lower_hex(trace, 32) && trace[32] == ';' &&
		    lower_hex(trace + 33, 2) && (trace[35] == '\0' || trace[35] == ';') &&
		    (cgi_len == 0 || (cgi_len == idlen && memcmp(cgi_id, v, idlen) == 0))) {
			memcpy(id, v, idlen);
			id[idlen] = '\0';
			seed.id = id;
			seed.id_len = idlen;
			seed.trace_id = trace;
			seed.trace_flags = (uint8_t)strtoul(trace + 33, NULL, 16);
			/* The span it works in (16 hex before the files, or
			 * none): its own and its parent, so that its client
			 * spans, or where it records none the traceparent it
			 * sends, name it (agent/propagate.c). None (or a parent
			 * whose agent wrote none): a new one. */
			if (trace[35] == ';' && strlen(trace + 36) > 16 && lower_hex(trace + 36, 16) &&
			    trace[52] == ';') {
				memcpy(span, trace + 36, 16);
				span[16] = '\0';
				seed.span_id = span;
				seed.parent_id = span;
			}
			/* its tracestate, checked again as a header's */
			if (agent_config->parent_state[0]) {
				const char *part = agent_config->parent_state;
				size_t len = strlen(part);

				seed.tracestate_len = http_tracestate(&part, &len, 1, state);
				seed.tracestate = seed.tracestate_len ? state : NULL;
			}
			parent_named = true;
		}
	}
	if (!parent_named && cgi_len) {
		/* A CGI program whose parent's context is not its request (or
		 * whose parent runs without the agent): the request header its
		 * environment carries names it, as the header itself would. */
		seed.id = cgi_id;
		seed.id_len = cgi_len;
		if (cgi_has_trace) {
			seed.trace_id = cgi_trace;
			seed.parent_id = cgi_parent;
			seed.trace_flags = cgi_flags;
		}
	}
	if (seed.id && parent_named)
		out_fd_started_in_request();
	if (seed.id) {
		ctx_take_current(ctx_new(&seed));
		/* Kept until the process serves requests of its own. */
		if (agent_self.cur) {
			const char *gi = getenv("GATEWAY_INTERFACE");
			int saved = errno;

			ctx_get(agent_self.cur);
			inherit_home = agent_self.cur;
			inherit_fed = channel_at(0) && !(gi && strncmp(gi, "CGI/", 4) == 0);
			if (inherit_fed)
				stdin_fds_set(1, 0);
			errno = saved;
		}
		DEBUG("start %s (%s)", seed.id, parent_named ?
		      "inherited from the parent process through exec" :
		      "adopted from the CGI environment's request header");
	}
	/* Only this process starts in it: its own children get it through
	 * exec again, from whatever is current then. */
	if (v[0] != '\0')
		unsetenv(INHERIT_VAR);
	if (agent_config->parent_state[0])
		unsetenv(INHERIT_STATE_VAR);
}
