/*
 * debug.h - the agent's own diagnostics (REQCTX_DEBUG=FILE). They go to
 * that file only, never to the host's stderr. Without the variable every
 * call is a single branch.
 */
#ifndef AGENT_DEBUG_H
#define AGENT_DEBUG_H

extern int debug_fd;

/* Opens the file (append). Returns 0 or -errno. */
int debug_open(const char *path);

void debug_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define DEBUG(...) do { if (debug_fd >= 0) debug_log(__VA_ARGS__); } while (0)

#endif
