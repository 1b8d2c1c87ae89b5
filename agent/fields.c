/*
 * fields.c - REQCTX_FIELDS values from request heads and baggage, and the
 * baggage they travel in (agent/fields.h). Runs on bytes a client chose:
 * linear, no allocation, and nothing it keeps can carry a byte outside the
 * field alphabet.
 */
#include <string.h>

#include "agent/fields.h"

static bool is_field_char(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch != 0 && strchr("-._:/+=@%", ch) != NULL;
}

static bool same_name(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

static void trim(const char **v, const char **ve)
{
	while (*v < *ve && (**v == ' ' || **v == '\t'))
		(*v)++;
	while (*ve > *v && ((*ve)[-1] == ' ' || (*ve)[-1] == '\t'))
		(*ve)--;
}

static void set(struct fields *out, int i, const char *v, const char *ve)
{
	size_t n = (size_t)(ve - v);

	if (n == 0)
		return;
	if (n > CTX_FIELD_MAX)
		n = CTX_FIELD_MAX;
	for (size_t k = 0; k < n; k++)
		out->val[i][k] = is_field_char((unsigned char)v[k]) ? v[k] : '_';
	out->val[i][n] = '\0';
	if (out->len[i] == 0)
		out->count++;
	out->len[i] = (uint8_t)n;
}

/* baggage: list-member *( "," list-member ), member = key "=" value *( ";" property ) */
static void baggage(const char *v, const char *ve, const struct config *cfg,
		    struct fields *out, const bool *from_header)
{
	while (v < ve) {
		const char *m = v, *me = memchr(v, ',', (size_t)(ve - v)), *eq, *val, *vale;

		if (me == NULL)
			me = ve;
		v = me + 1;
		eq = memchr(m, '=', (size_t)(me - m));
		if (eq == NULL)
			continue;
		val = eq + 1;
		vale = memchr(val, ';', (size_t)(me - val));
		if (vale == NULL)
			vale = me;
		{
			const char *k = m, *ke = eq;

			trim(&k, &ke);
			trim(&val, &vale);
			for (int i = 0; i < cfg->nfields; i++)
				if (!from_header[i] && out->len[i] == 0 &&
				    same_name(k, (size_t)(ke - k), cfg->fields[i].name,
					      cfg->fields[i].name_len))
					set(out, i, val, vale);
		}
	}
}

void fields_from_head(const char *buf, size_t len, const struct config *cfg, struct fields *out)
{
	const char *p = buf, *end = buf + len, *bag = NULL, *bage = NULL;
	bool from_header[CTX_FIELDS] = { false };
	const char *lf;

	memset(out->len, 0, sizeof out->len);
	out->count = 0;
	if (buf == NULL || cfg->nfields == 0)
		return;
	lf = memchr(p, '\n', len);
	if (lf == NULL)
		return;
	p = lf + 1;                       /* past the request line */
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		const char *e = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
		const char *colon = memchr(p, ':', (size_t)(e - p));

		if (e == p)
			break;                    /* the blank line */
		if (colon) {
			const char *v = colon + 1, *ve = e;
			size_t nl = (size_t)(colon - p);

			trim(&v, &ve);
			for (int i = 0; i < cfg->nfields; i++)
				if (!from_header[i] &&
				    same_name(p, nl, cfg->fields[i].header, cfg->fields[i].header_len) &&
				    ve > v) {
					set(out, i, v, ve);
					from_header[i] = true;
				}
			if (bag == NULL && same_name(p, nl, "baggage", 7)) {
				bag = v;
				bage = ve;
			}
		}
		p = lf + 1;
	}
	if (bag)
		baggage(bag, bage, cfg, out, from_header);
}

size_t fields_baggage(char *dst, size_t cap, const struct config *cfg, const struct ctx *c)
{
	const struct ctx_name *n = ctx_name(c);       /* read once */
	size_t o = 0;

	for (int i = 0; i < cfg->nfields; i++) {
		size_t need;

		if (n->field_len[i] == 0)
			continue;
		need = (o ? 1 : 0) + cfg->fields[i].name_len + 1 + n->field_len[i];
		if (o + need > cap)
			return 0;
		if (o)
			dst[o++] = ',';
		memcpy(dst + o, cfg->fields[i].name, cfg->fields[i].name_len);
		o += cfg->fields[i].name_len;
		dst[o++] = '=';
		memcpy(dst + o, n->field[i], n->field_len[i]);
		o += n->field_len[i];
	}
	return o;
}
