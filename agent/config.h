/*
 * config.h - the agent's settings, read once from REQCTX_* variables at
 * start-up into an immutable struct.
 *
 * Threading rule: config_load() runs in the constructor before any hook
 * does agent work; afterwards agent_config is only read, never written, so
 * every thread may read it without a lock.
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

enum cfg_output { CFG_OUTPUT_TEXT, CFG_OUTPUT_JSON };
enum cfg_epoll { CFG_EPOLL_SINGLE, CFG_EPOLL_BATCH };

#define CFG_FORMAT_MAX 200      /* bytes of REQCTX_FORMAT */
#define CFG_FORMAT_SEGS 64
#define CFG_HEADER_MAX 64
#define CFG_PATH_MAX 1024
#define CFG_PARENT_MAX 255      /* REQCTX_PARENT's value (agent/inherit.h) */
#define CFG_PARENT_STATE_MAX 512 /* REQCTX_PARENT_STATE's (HTTP_TRACESTATE_MAX) */
#define CFG_TAG_MAX 1024        /* bytes of REQCTX_TAG */
#define CFG_TAG_PATHS 16        /* path patterns in it */

/* One piece of the compiled prefix format: literal text or a field. */
struct cfg_seg {
	char field;               /* 0 for literal, else i t s P p T, or f (a field) */
	uint8_t off, len;         /* literal bytes: format[off .. off+len) */
	uint8_t arg;              /* f: index into config.fields */
};

#define CFG_FIELDS 8              /* REQCTX_FIELDS entries (= CTX_FIELDS) */
#define CFG_FIELD_NAME_MAX 32
#define CFG_OTEL_MAX 1024         /* OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES */

/* One REQCTX_FIELDS entry: context field `name` from request header `header`. */
struct cfg_field {
	char name[CFG_FIELD_NAME_MAX + 1];
	char header[CFG_HEADER_MAX + 1];
	uint8_t name_len, header_len;
};

/* REQCTX_PROPAGATE: what outbound requests get. */
#define CFG_PROP_TRACEPARENT 1u
#define CFG_PROP_ID          2u
#define CFG_PROP_BAGGAGE     4u
#define CFG_PROP_ALL         7u

struct config {
	bool disabled;
	enum cfg_output output;
	enum cfg_epoll epoll;
	bool epoll_set;            /* REQCTX_EPOLL was given (agent/dispatch.c) */
	char header[CFG_HEADER_MAX + 1];
	size_t header_len;
	char format[CFG_FORMAT_MAX + 1];
	struct cfg_seg segs[CFG_FORMAT_SEGS];
	int nsegs;
	char debug_path[CFG_PATH_MAX + 1];  /* empty: no diagnostics */
	bool children;            /* REQCTX_CHILDREN (default on) */
	bool crash;               /* REQCTX_CRASH: crash reports (default on) */
	unsigned bridges;         /* REQCTX_BRIDGES: CFG_BRIDGE_* bits (default all) */
	/* REQCTX_PARENT as the parent's agent wrote it, unchecked (empty: none);
	 * agent/inherit.c validates and adopts it. */
	char parent[CFG_PARENT_MAX + 1];
	/* REQCTX_PARENT_STATE: the trace's tracestate, as the parent's agent
	 * wrote it with REQCTX_PARENT, unchecked (empty: none). */
	char parent_state[CFG_PARENT_STATE_MAX + 1];
	unsigned propagate;       /* REQCTX_PROPAGATE: CFG_PROP_* bits (default all) */
	bool response_id;         /* REQCTX_RESPONSE_ID: responses get the ID header */
	struct cfg_field fields[CFG_FIELDS]; /* REQCTX_FIELDS */
	int nfields;
	char spans_path[CFG_PATH_MAX + 1];   /* REQCTX_SPANS; empty: no spans */
	/* OpenTelemetry's own variables, raw (agent/spans.c reads them). */
	char otel_service[CFG_OTEL_MAX + 1];
	char otel_resource[CFG_OTEL_MAX + 1];
	/* OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (the OpenTelemetry
	 * SDK's environment variables, their default parentbased_always_on):
	 * whether a trace the agent starts is sampled (sample_bound: see
	 * struct ctx_sampling), and whether one it adopts keeps its caller's
	 * decision (sample_parent). */
	bool sample_parent;
	uint64_t sample_bound;
	/* REQCTX_TAG: the outputs whose lines are tagged (agent/out_fd.c). */
	bool tag_stderr;          /* fd 2 and what the rules make of it (default) */
	bool tag_stdout;          /* fd 1 as started, its dups, dup2 onto fd 1 */
	int tag_npaths;           /* absolute paths or glob patterns: */
	uint16_t tag_path[CFG_TAG_PATHS];   /* offsets of NUL-terminated ones */
	char tag_paths[CFG_TAG_MAX + 1];    /* in here */
};

/* REQCTX_BRIDGES: the runtime bridges the agent may load (agent/bridge.c). */
#define CFG_BRIDGE_NODE   1u
#define CFG_BRIDGE_PYTHON 2u
#define CFG_BRIDGE_RUBY   4u
#define CFG_BRIDGE_ALL    7u

/* The defaults, a static initialiser: what config_load() gives with an
 * empty environment. */
extern const struct config config_default;

/* The settings in force: config_default until the constructor has run
 * config_load() (hooks may run before it), then the loaded settings. */
extern AGENT_HIDDEN const struct config *agent_config;

/* One variable of the table config_load() reads. */
struct config_var {
	const char *name;         /* "REQCTX_FORMAT" */
	const char *used;         /* the default, as a bad value's report names it */
	bool internal;            /* set by the agent for its children, not by users */
};

/* The i-th variable config_load() knows (0, 1, ...), or NULL past the last.
 * For the tests and build/config-vars, which lists them. */
const struct config_var *config_var(size_t i);

/*
 * Fill `c` from an environ-style array. Each bad value is reported through
 * report(line) as one line naming the variable, the value and what is
 * accepted, and the default is used instead. Returns the number of problems
 * reported (0 when every REQCTX_* variable was valid).
 */
int config_load(struct config *c, char *const *env,
		void (*report)(const char *line, void *arg), void *arg);

/* Copies config_default into `c`. */
void config_defaults(struct config *c);

#endif
