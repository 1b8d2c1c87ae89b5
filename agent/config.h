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

enum cfg_output { CFG_OUTPUT_TEXT, CFG_OUTPUT_JSON };
enum cfg_epoll { CFG_EPOLL_SINGLE, CFG_EPOLL_BATCH };

#define CFG_FORMAT_MAX 200      /* bytes of REQCTX_FORMAT */
#define CFG_FORMAT_SEGS 64
#define CFG_HEADER_MAX 64
#define CFG_PATH_MAX 1024

/* One piece of the compiled prefix format: literal text or a field. */
struct cfg_seg {
	char field;               /* 0 for literal, else i t s p T */
	uint8_t off, len;         /* literal bytes: format[off .. off+len) */
};

struct config {
	bool disabled;
	enum cfg_output output;
	enum cfg_epoll epoll;
	char header[CFG_HEADER_MAX + 1];
	size_t header_len;
	char format[CFG_FORMAT_MAX + 1];
	struct cfg_seg segs[CFG_FORMAT_SEGS];
	int nsegs;
	char debug_path[CFG_PATH_MAX + 1];  /* empty: no diagnostics */
	bool no_children;         /* REQCTX_CHILDREN=0 */
	bool crash;               /* REQCTX_CRASH: crash reports (default on) */
	unsigned bridges;         /* REQCTX_BRIDGES: CFG_BRIDGE_* bits (default all) */
};

/* REQCTX_BRIDGES: the runtime bridges the agent may load (agent/bridge.c). */
#define CFG_BRIDGE_NODE   1u
#define CFG_BRIDGE_PYTHON 2u
#define CFG_BRIDGE_RUBY   4u
#define CFG_BRIDGE_ALL    7u

/* The settings in force. Valid once the constructor has run; before that it
 * points at the defaults. */
extern const struct config *agent_config;

/*
 * Fill `c` from an environ-style array. Each bad value is reported through
 * report(line) as one line naming the variable, the value and what is
 * accepted, and the default is used instead. Returns the number of problems
 * reported (0 when every REQCTX_* variable was valid).
 */
int config_load(struct config *c, char *const *env,
		void (*report)(const char *line, void *arg), void *arg);

/* The defaults, as config_load() gives with an empty environment. */
void config_defaults(struct config *c);

#endif
