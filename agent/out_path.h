/*
 * out_path.h - REQCTX_TAG's file paths and glob patterns: is a file the
 * program opens one whose lines are tagged?
 */
#ifndef AGENT_OUT_PATH_H
#define AGENT_OUT_PATH_H

#include <stdbool.h>

#include "agent/config.h"

/* True when `path` matches the glob `pattern`: `*` and `?` match within
 * one path component (never a '/'), `[...]` a set (`!` or `^` negates,
 * ranges), `\` quotes the next byte. No allocation, no locale. */
bool out_path_match(const char *pattern, const char *path);

/* True when the file opened as `path` (relative to `dirfd`: AT_FDCWD or
 * the directory's fd) matches one of cfg's patterns. A relative path is
 * made absolute with the working directory (one getcwd, here at the open,
 * only when patterns are set); relative to another directory it is not
 * matched. */
bool out_path_tagged(const struct config *cfg, int dirfd, const char *path);

#endif
