/*
 * out_path.c - matching opened files against REQCTX_TAG's patterns. Runs
 * at opens only (agent/out_fd.c), never on the write path. Must never
 * allocate: an open may come from inside an allocator.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/out_path.h"

/* Matches a bracket expression at *pp against ch; advances *pp past it.
 * Returns -1 when the bracket is not closed (then '[' is literal). */
static int bracket(const char **pp, unsigned char ch)
{
	const char *p = *pp + 1;
	bool neg = false, hit = false;

	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	for (bool first = true; *p && (first || *p != ']'); first = false) {
		unsigned char lo = (unsigned char)*p++, hi = lo;

		if (lo == '/')
			return -1;
		if (*p == '-' && p[1] && p[1] != ']') {
			hi = (unsigned char)p[1];
			p += 2;
		}
		if (ch >= lo && ch <= hi)
			hit = true;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return hit != neg;
}

bool out_path_match(const char *pat, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;

	for (;;) {
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			star_p = pat;
			star_s = s;
			continue;
		}
		if (*s == '\0') {
			if (*pat == '\0')
				return true;
			return false;
		}
		if (*pat == '?') {
			if (*s == '/')
				goto backtrack;
			pat++;
			s++;
			continue;
		}
		if (*pat == '[') {
			const char *q = pat;
			int b = *s == '/' ? 0 : bracket(&q, (unsigned char)*s);

			if (b == 1) {
				pat = q;
				s++;
				continue;
			}
			if (b == 0)
				goto backtrack;
			/* unclosed: a literal '[' */
		}
		if (*pat == '\\' && pat[1])
			pat++;
		if (*pat == *s) {
			pat++;
			s++;
			continue;
		}
backtrack:
		/* A star may take one more byte, but never a '/'. */
		if (star_p == NULL || *star_s == '/')
			return false;
		pat = star_p;
		s = ++star_s;
	}
}

bool out_path_tagged(const struct config *cfg, int dirfd, const char *path)
{
	char abs[CFG_PATH_MAX + 2];
	const char *full = path;

	if (cfg->tag_npaths == 0 || path == NULL || path[0] == '\0')
		return false;
	if (path[0] != '/') {
		size_t n, m;

		while (path[0] == '.' && path[1] == '/')
			path += 2;
		m = strlen(path);
		if (dirfd != AT_FDCWD || getcwd(abs, sizeof abs) == NULL)
			return false;
		n = strlen(abs);
		if (n + 1 + m >= sizeof abs)
			return false;
		if (n > 1)
			abs[n++] = '/';
		memcpy(abs + n, path, m + 1);
		full = abs;
	}
	for (int i = 0; i < cfg->tag_npaths; i++)
		if (out_path_match(cfg->tag_paths + cfg->tag_path[i], full))
			return true;
	return false;
}
