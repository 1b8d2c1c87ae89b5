/*
 * spans.h - one OpenTelemetry span per server request and per outbound
 * request, written to REQCTX_SPANS as OTLP/JSON: one
 * ExportTraceServiceRequest object per line, the file format of the
 * OpenTelemetry Collector's file exporter and otlpjsonfile receiver.
 *
 * A span is rendered on the thread that finishes it, into a per-thread
 * buffer, and goes out with one write(2) to a file opened O_APPEND: no
 * lock anywhere, so no lock is ever held across that system call, and
 * lines from threads and processes sharing the file stay whole.
 */
#ifndef AGENT_SPANS_H
#define AGENT_SPANS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/config.h"

enum span_kind { SPAN_NONE = 0, SPAN_SERVER = 2, SPAN_CLIENT = 3 };   /* OTLP SpanKind */

#define SPAN_PATH_MAX 255

struct span {
	uint8_t kind;              /* enum span_kind; SPAN_NONE: no span */
	uint8_t flags;             /* W3C trace flags */
	uint16_t status;           /* HTTP status code, 0 when none was seen */
	uint16_t port;             /* client.port (server) / server.port (client) */
	char trace_id[33];
	char span_id[17];
	char parent_id[17];        /* "" for a root span */
	char method[16];
	char addr[48];             /* client.address (server) / server.address (client) */
	const char *path;          /* url.path (server spans): NUL-terminated, at most
	                              SPAN_PATH_MAX bytes, in room the span's holder
	                              keeps (a connection keeps it for its server
	                              span only); NULL or "": none */
	int64_t start_ns, end_ns;  /* unix nanoseconds */
	/* Its trace's W3C tracestate (OTLP Span.trace_state), NUL-terminated,
	 * from the agent's allocator (mem_alloc of tracestate_len + 1), owned
	 * by whoever starts and ends the span; NULL: none. */
	char *tracestate;
	uint16_t tracestate_len;
};

/* True when REQCTX_SPANS names a file that is open. */
extern int spans_fd;
static inline bool spans_on(void)
{
	return __atomic_load_n(&spans_fd, __ATOMIC_RELAXED) >= 0;
}

/* Whether this process records the spans of a trace with W3C trace-flags
 * `trace_flags`: spans are on and the trace is sampled (an SDK records no
 * span of a trace its sampler left out). */
static inline bool spans_record(uint8_t trace_flags)
{
	return spans_on() && (trace_flags & 1);
}

/* Opens the file and renders the resource once (constructor). Returns 0 or
 * -errno. */
int spans_init(const struct config *cfg);

/* Writes one span (nothing when spans are off or s->kind is SPAN_NONE). */
void spans_emit(const struct span *s);

/* Renders one span's ExportTraceServiceRequest line (with '\n') into dst;
 * returns its length, 0 when it does not fit. For the tests. */
size_t spans_render(char *dst, size_t cap, const struct span *s);

/* The fd-table events: the program closed or reused the spans fd. */
void spans_fd_event(int fd);

/* The current time as unix nanoseconds. */
int64_t spans_now(void);

/* Splits "addr:port" / "[v6]:port" (ctx_format_peer's form). */
void spans_split_peer(const char *peer, char *addr, size_t cap, uint16_t *port);

/* The calling thread ends: its span line buffer goes back. */
void spans_thread_exit(void);

#endif
