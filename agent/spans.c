/*
 * spans.c - OTLP/JSON span lines (agent/spans.h). The resource (service
 * name and attributes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES)
 * is rendered once at start-up; a span is rendered into a per-thread
 * buffer and written with one write(2), O_APPEND, no lock. Like the
 * diagnostics file, the fd is the agent's only while the program leaves
 * its number alone (spans_fd_event).
 *
 * Must never: allocate after start-up, take a lock, call an interposed
 * function by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/format.h"
#include "agent/spans.h"
#include "base/mem.h"
#include "base/real.h"
#include "base/thread.h"

#define RESOURCE_MAX 4096
#define SPAN_LINE_MAX 8192

int spans_fd = -1;
static char resource[RESOURCE_MAX];     /* {"resourceSpans":[{"resource":{...}},"scopeSpans":... */
static size_t resource_len;
/* Per thread, made at its first span (kept out of the static TLS block,
 * as agent/propagate.c explains). */
static AGENT_TLS char *line;

int64_t spans_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct buf {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A JSON string's contents (no quotes): escaped, UTF-8 kept. */
static void put_esc(struct buf *b, const char *s, size_t n)
{
	size_t used;

	if (b->full)
		return;
	b->len += fmt_escape(b->p + b->len, b->cap - b->len, s, n, &used);
	if (used < n)
		b->full = true;
}

static void put_u64(struct buf *b, uint64_t v)
{
	char tmp[FMT_DECIMAL_MAX];

	put(b, tmp, fmt_decimal(tmp, v));
}

static void attr_str(struct buf *b, bool *first, const char *key, const char *v, size_t n)
{
	puts_(b, *first ? "{\"key\":\"" : ",{\"key\":\"");
	*first = false;
	put_esc(b, key, strlen(key));
	puts_(b, "\",\"value\":{\"stringValue\":\"");
	put_esc(b, v, n);
	puts_(b, "\"}}");
}

static void attr_int(struct buf *b, bool *first, const char *key, uint64_t v)
{
	puts_(b, *first ? "{\"key\":\"" : ",{\"key\":\"");
	*first = false;
	puts_(b, key);
	puts_(b, "\",\"value\":{\"intValue\":\"");
	put_u64(b, v);
	puts_(b, "\"}}");
}

static unsigned hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? (unsigned)(ch - '0') :
	       ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10) :
	       ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16;
}

/* OTEL_RESOURCE_ATTRIBUTES value: %XX decoded (W3C Baggage octets). */
static size_t decode(char *dst, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 0 && hexval(s[i + 1]) < 16 && hexval(s[i + 2]) < 16) {
			dst[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			dst[o++] = s[i];
		}
	}
	return o;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static void render_resource(const struct config *cfg)
{
	struct buf b = { resource, 0, sizeof resource, false };
	const char *ra = cfg->otel_resource, *name = cfg->otel_service;
	char value[CFG_OTEL_MAX + 1], rname[CFG_OTEL_MAX + 1] = "";
	bool first = true;

	puts_(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	/* Every key=value of OTEL_RESOURCE_ATTRIBUTES, service.name aside. */
	for (const char *p = ra; *p;) {
		size_t len = strcspn(p, ","), kl, vl;
		const char *eq = memchr(p, '=', len), *k = p, *v;

		if (eq) {
			kl = (size_t)(eq - p);
			v = eq + 1;
			vl = len - kl - 1;
			trim(&k, &kl);
			trim(&v, &vl);
			vl = decode(value, v, vl);
			if (kl == 12 && memcmp(k, "service.name", 12) == 0) {
				memcpy(rname, value, vl);
				rname[vl] = '\0';
			} else if (kl > 0 && kl < 256) {
				char key[256];

				memcpy(key, k, kl);
				key[kl] = '\0';
				attr_str(&b, &first, key, value, vl);
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (name[0] == '\0')
		name = rname[0] ? rname : program_invocation_short_name;
	attr_str(&b, &first, "service.name", name, strlen(name));
	attr_str(&b, &first, "telemetry.sdk.name", "reqctx", 6);
	puts_(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"reqctx\"},\"spans\":[");
	resource_len = b.full ? 0 : b.len;
}

int spans_init(const struct config *cfg)
{
	int fd;

	if (cfg->spans_path[0] == '\0')
		return 0;
	render_resource(cfg);
	if (resource_len == 0)
		return -E2BIG;
	fd = real_open_aside(cfg->spans_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	__atomic_store_n(&spans_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

void spans_fd_event(int fd)
{
	int expected = fd;

	if (fd >= 0)
		__atomic_compare_exchange_n(&spans_fd, &expected, -1, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

size_t spans_render(char *dst, size_t cap, const struct span *s)
{
	struct buf b = { dst, 0, cap, false };
	bool first = true;
	const char *name = s->method[0] ? s->method : "HTTP";

	put(&b, resource, resource_len);
	puts_(&b, "{\"traceId\":\"");
	put(&b, s->trace_id, 32);
	puts_(&b, "\",\"spanId\":\"");
	put(&b, s->span_id, 16);
	if (s->tracestate) {
		puts_(&b, "\",\"traceState\":\"");
		put_esc(&b, s->tracestate, s->tracestate_len);
	}
	if (s->parent_id[0]) {
		puts_(&b, "\",\"parentSpanId\":\"");
		put(&b, s->parent_id, 16);
	}
	puts_(&b, "\",\"name\":\"");
	put_esc(&b, name, strlen(name));
	puts_(&b, s->kind == SPAN_SERVER ? "\",\"kind\":2" : "\",\"kind\":3");
	puts_(&b, ",\"startTimeUnixNano\":\"");
	put_u64(&b, (uint64_t)s->start_ns);
	puts_(&b, "\",\"endTimeUnixNano\":\"");
	put_u64(&b, (uint64_t)(s->end_ns > s->start_ns ? s->end_ns : s->start_ns));
	puts_(&b, "\",\"attributes\":[");
	if (s->method[0])
		attr_str(&b, &first, "http.request.method", s->method, strlen(s->method));
	if (s->kind == SPAN_SERVER) {
		attr_str(&b, &first, "url.scheme", "http", 4);
		if (s->path && s->path[0])
			attr_str(&b, &first, "url.path", s->path, strlen(s->path));
		if (s->addr[0])
			attr_str(&b, &first, "client.address", s->addr, strlen(s->addr));
		if (s->port)
			attr_int(&b, &first, "client.port", s->port);
	} else {
		if (s->addr[0])
			attr_str(&b, &first, "server.address", s->addr, strlen(s->addr));
		if (s->port)
			attr_int(&b, &first, "server.port", s->port);
	}
	if (s->status)
		attr_int(&b, &first, "http.response.status_code", s->status);
	puts_(&b, "]");
	/* Semantic conventions: 5xx is an error of a server span, 4xx and 5xx
	 * of a client span; otherwise the status stays unset. */
	if (s->status >= (s->kind == SPAN_SERVER ? 500 : 400))
		puts_(&b, ",\"status\":{\"code\":2}");
	puts_(&b, "}]}]}]}\n");
	return b.full ? 0 : b.len;
}

void spans_emit(const struct span *s)
{
	int fd = __atomic_load_n(&spans_fd, __ATOMIC_ACQUIRE), saved = errno;
	size_t n;

	if (fd < 0 || s->kind == SPAN_NONE)
		return;
	if (unlikely(line == NULL) && (line = mem_alloc(SPAN_LINE_MAX)) == NULL) {
		errno = saved;
		return;
	}
	n = spans_render(line, SPAN_LINE_MAX, s);
	if (n)
		(void)REAL(write)(fd, line, n);
	errno = saved;
}

void spans_thread_exit(void)
{
	if (line) {
		mem_free(line, SPAN_LINE_MAX);
		line = NULL;
	}
}

void spans_split_peer(const char *peer, char *addr, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(peer, ':'), *a = peer;
	size_t n;

	*port = 0;
	addr[0] = '\0';
	if (colon == NULL || cap == 0)
		return;
	n = (size_t)(colon - peer);
	if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	for (const char *p = colon + 1; *p >= '0' && *p <= '9'; p++)
		*port = (uint16_t)(*port * 10 + (*p - '0'));
}
