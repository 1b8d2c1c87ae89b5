/*
 * debug.h - the agent's own diagnostics (REQCTX_DEBUG=FILE). They go to
 * that file only, never to the host's stderr. Without the variable every
 * call is a single branch.
 */
#ifndef AGENT_DEBUG_H
#define AGENT_DEBUG_H

#include <stdbool.h>

extern int debug_fd;

/* Opens the file (append). Returns 0 or -errno. */
int debug_open(const char *path);

void debug_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The program closes the diagnostics fd's number (`still_open`: before the
 * close, so a last line can say why), or a call it made handed that number
 * out again (it was closed behind the agent's back): the number is not the
 * agent's any more, and diagnostics stop for good. */
void debug_lost(int fd, bool still_open);

#define DEBUG(...) do { if (debug_fd >= 0) debug_log(__VA_ARGS__); } while (0)

#endif
