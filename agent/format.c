/*
 * format.c - prefix and JSON rendering. Everything rendered here is built
 * from values the agent already made safe (generated hex, or adopted IDs
 * limited to a harmless alphabet), so no escaping of fields is needed; the
 * program's own bytes are escaped in JSON mode only.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/format.h"


static size_t put(char *dst, size_t o, size_t cap, const char *s, size_t n)
{
	if (o + n > cap)
		n = cap - o;
	memcpy(dst + o, s, n);
	return o + n;
}

size_t fmt_decimal(char *dst, uint64_t v)
{
	char tmp[FMT_DECIMAL_MAX];
	size_t n = 0;

	do {
		tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(dst, tmp + sizeof tmp - n, n);
	return n;
}

static size_t put_uint(char *dst, size_t o, size_t cap, unsigned long v)
{
	char tmp[FMT_DECIMAL_MAX];

	return put(dst, o, cap, tmp, fmt_decimal(tmp, v));
}

static size_t head_text(char *dst, size_t cap, const struct config *cfg, const struct ctx *c)
{
	const struct ctx_name *n = ctx_name(c);   /* once: it may be renamed meanwhile */
	size_t o = 0;

	for (int i = 0; i < cfg->nsegs; i++) {
		const struct cfg_seg *s = &cfg->segs[i];

		switch (s->field) {
		case 0:   o = put(dst, o, cap, cfg->format + s->off, s->len); break;
		case 'i': o = put(dst, o, cap, n->id, n->id_len); break;
		case 't': o = put(dst, o, cap, n->trace_id, 32); break;
		case 's': o = put(dst, o, cap, c->span_id, 16); break;
		case 'P': o = put(dst, o, cap, n->parent_id, strlen(n->parent_id)); break;
		case 'f': o = put(dst, o, cap, n->field[s->arg], n->field_len[s->arg]); break;
		case 'p': o = put_uint(dst, o, cap, (unsigned long)agent_pid); break;
		case 'T': o = put_uint(dst, o, cap, (unsigned long)agent_tid()); break;
		}
	}
	return o;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil(long days, long *y, unsigned *m, unsigned *d)
{
	long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long)yoe + era * 400 + (*m <= 2);
}

static void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void fmt_time(char dst[28], long sec, long nsec)
{
	long days = sec / 86400, rem = sec % 86400, y;
	unsigned m, d, us = (unsigned)(nsec / 1000);

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil(days, &y, &m, &d);
	two(dst, (unsigned)(y / 100));
	two(dst + 2, (unsigned)(y % 100));
	dst[4] = '-';
	two(dst + 5, m);
	dst[7] = '-';
	two(dst + 8, d);
	dst[10] = 'T';
	two(dst + 11, (unsigned)(rem / 3600));
	dst[13] = ':';
	two(dst + 14, (unsigned)(rem / 60 % 60));
	dst[16] = ':';
	two(dst + 17, (unsigned)(rem % 60));
	dst[19] = '.';
	for (int i = 25; i >= 20; i--) {
		dst[i] = (char)('0' + us % 10);
		us /= 10;
	}
	dst[26] = 'Z';
	dst[27] = '\0';
}

static size_t put_jstr(char *dst, size_t o, size_t cap, const char *k, const char *v, size_t n)
{
	o = put(dst, o, cap, k, strlen(k));
	if (v == NULL)
		return put(dst, o, cap, "null", 4);
	o = put(dst, o, cap, "\"", 1);
	o = put(dst, o, cap, v, n);
	return put(dst, o, cap, "\"", 1);
}

/* ,"name":"value" for each REQCTX_FIELDS field the context has (names and
 * values are of JSON-safe alphabets: config.c, agent/fields.c). */
size_t fmt_fields(char *dst, size_t o, size_t cap, const struct config *cfg, const struct ctx *c)
{
	const struct ctx_name *n = c ? ctx_name(c) : NULL;   /* read once */

	for (int i = 0; n && i < cfg->nfields; i++) {
		if (n->field_len[i] == 0)
			continue;
		o = put(dst, o, cap, ",\"", 2);
		o = put(dst, o, cap, cfg->fields[i].name, cfg->fields[i].name_len);
		o = put_jstr(dst, o, cap, "\":", n->field[i], n->field_len[i]);
	}
	return o;
}

static size_t head_json(char *dst, size_t cap, const struct config *cfg, const struct ctx *c)
{
	const struct ctx_name *n = c ? ctx_name(c) : NULL;
	struct timespec now;
	char t[28];
	size_t o = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	fmt_time(t, now.tv_sec, now.tv_nsec);
	o = put_jstr(dst, o, cap, "{\"time\":", t, 27);
	o = put_jstr(dst, o, cap, ",\"request_id\":", n ? n->id : NULL, n ? n->id_len : 0);
	o = put_jstr(dst, o, cap, ",\"trace_id\":", n ? n->trace_id : NULL, 32);
	o = put_jstr(dst, o, cap, ",\"span_id\":", c ? c->span_id : NULL, 16);
	o = fmt_fields(dst, o, cap, cfg, c);
	o = put(dst, o, cap, ",\"pid\":", 7);
	o = put_uint(dst, o, cap, (unsigned long)agent_pid);
	o = put(dst, o, cap, ",\"tid\":", 7);
	o = put_uint(dst, o, cap, (unsigned long)agent_tid());
	return put(dst, o, cap, ",\"message\":\"", 12);
}

size_t fmt_head(char *dst, size_t cap, const struct config *cfg, const struct ctx *c)
{
	if (cfg->output == CFG_OUTPUT_JSON)
		return head_json(dst, cap, cfg, c);
	return c ? head_text(dst, cap, cfg, c) : 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	if (s[0] < 0xe0) {
		len = 2; cp = s[0] & 0x1f; min = 0x80;
	} else if (s[0] < 0xf0) {
		len = 3; cp = s[0] & 0x0f; min = 0x800;
	} else {
		len = 4; cp = s[0] & 0x07; min = 0x10000;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The escape of one unit starting at s: returns source bytes taken, and
 * the output in out/outlen. */
static size_t unit(const unsigned char *s, size_t n, char out[8], size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ch = s[0];
	size_t l;

	if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
		out[0] = (char)ch;
		*outlen = 1;
		return 1;
	}
	if (ch < 0x80) {
		const char *e = NULL;

		switch (ch) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		}
		if (e) {
			memcpy(out, e, 2);
			*outlen = 2;
			return 1;
		}
		memcpy(out, "\\u00", 4);
		out[4] = hex[ch >> 4];
		out[5] = hex[ch & 15];
		*outlen = 6;
		return 1;
	}
	l = utf8_seq(s, n);
	if (l) {
		memcpy(out, s, l);
		*outlen = l;
		return l;
	}
	memcpy(out, "\\udc", 4);
	out[4] = hex[ch >> 4];
	out[5] = hex[ch & 15];
	*outlen = 6;
	return 1;
}

size_t fmt_escape_len(const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, total = 0;
	char tmp[8];

	while (i < n) {
		size_t ol;

		i += unit(s + i, n - i, tmp, &ol);
		total += ol;
	}
	return total;
}

size_t fmt_escape(char *dst, size_t cap, const char *src, size_t n, size_t *used)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char ch = s[i];
		size_t ol, took;
		char tmp[8];

		/* Plain ASCII in bulk. */
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			if (o == cap)
				break;
			dst[o++] = (char)ch;
			i++;
			continue;
		}
		took = unit(s + i, n - i, tmp, &ol);
		if (o + ol > cap)
			break;
		memcpy(dst + o, tmp, ol);
		o += ol;
		i += took;
	}
	*used = i;
	return o;
}

/* Our member names, in the order of fmt_obj.clash bits; fields follow. */
static const char *const our_names[] = { "time", "request_id", "trace_id", "span_id", "pid", "tid" };
#define OUR_FIXED 6

enum { OBJ_LEAD, OBJ_IN, OBJ_AFTER, OBJ_BAD };

void fmt_obj_init(struct fmt_obj *o)
{
	memset(o, 0, sizeof *o);
	o->state = OBJ_LEAD;
}

static bool blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Our name index of a top-level key, or -1. */
static int our_index(const struct config *cfg, const char *k, size_t n)
{
	for (int i = 0; i < OUR_FIXED; i++)
		if (strlen(our_names[i]) == n && memcmp(our_names[i], k, n) == 0)
			return i;
	for (int i = 0; i < cfg->nfields; i++)
		if (cfg->fields[i].name_len == n && memcmp(cfg->fields[i].name, k, n) == 0)
			return OUR_FIXED + i;
	return -1;
}

int fmt_obj_feed(struct fmt_obj *o, const struct config *cfg, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;

	for (size_t i = 0; i < n && o->state != OBJ_BAD; i++) {
		unsigned char ch = s[i];

		if (ch < 0x20 && (o->in_str || (ch != '\t' && ch != '\r'))) {
			o->state = OBJ_BAD;     /* raw control byte */
			break;
		}
		if (o->u8_need) {
			if (ch < o->u8_lo || ch > o->u8_hi) {
				o->state = OBJ_BAD;
				break;
			}
			o->u8_need--;
			o->u8_lo = 0x80;
			o->u8_hi = 0xbf;
			continue;
		}
		if (ch >= 0x80) {
			/* A UTF-8 lead byte (the output must stay UTF-8: no
			 * overlong forms, no surrogates, nothing past U+10FFFF). */
			o->u8_lo = 0x80;
			o->u8_hi = 0xbf;
			if (ch >= 0xc2 && ch <= 0xdf)
				o->u8_need = 1;
			else if (ch >= 0xe0 && ch <= 0xef)
				o->u8_need = 2;
			else if (ch >= 0xf0 && ch <= 0xf4)
				o->u8_need = 3;
			else {
				o->state = OBJ_BAD;
				break;
			}
			if (ch == 0xe0)
				o->u8_lo = 0xa0;
			else if (ch == 0xed)
				o->u8_hi = 0x9f;
			else if (ch == 0xf0)
				o->u8_lo = 0x90;
			else if (ch == 0xf4)
				o->u8_hi = 0x8f;
			if (o->state != OBJ_IN || !o->in_str) {
				o->state = OBJ_BAD;   /* only inside strings */
				break;
			}
			if (o->in_key) {
				if (o->key_len < CFG_FIELD_NAME_MAX)
					o->key[o->key_len++] = (char)ch;
				else
					o->key_over = true;
			}
			continue;
		}
		switch (o->state) {
		case OBJ_LEAD:
			o->lead++;
			if (ch == '{') {
				o->state = OBJ_IN;
				o->depth = 1;
				o->key_pos = true;
			} else if (!blank(ch)) {
				o->state = OBJ_BAD;
			}
			continue;
		case OBJ_AFTER:
			if (!blank(ch))
				o->state = OBJ_BAD;
			continue;
		}
		if (o->in_str) {
			if (o->in_key) {
				if (ch == '\\') {
					o->state = OBJ_BAD;   /* escaped top-level key */
					break;
				}
				if (ch != '"') {
					if (o->key_len < CFG_FIELD_NAME_MAX)
						o->key[o->key_len++] = (char)ch;
					else
						o->key_over = true;
				}
			}
			if (o->esc)
				o->esc = false;
			else if (ch == '\\')
				o->esc = true;
			else if (ch == '"') {
				o->in_str = false;
				if (o->in_key && !o->key_over) {
					int k = our_index(cfg, o->key, o->key_len);

					if (k >= 0)
						o->clash |= 1u << k;
				}
				o->in_key = false;
			}
			continue;
		}
		if (blank(ch))
			continue;
		if (o->depth == 1 && ch != '}')
			o->members = true;
		switch (ch) {
		case '"':
			o->in_str = true;
			if (o->depth == 1 && o->key_pos) {
				o->in_key = true;
				o->key_len = 0;
				o->key_over = false;
			}
			o->key_pos = false;
			break;
		case '{':
		case '[':
			if (o->depth == UINT16_MAX)
				o->state = OBJ_BAD;
			o->depth++;
			break;
		case '}':
		case ']':
			if (--o->depth == 0)
				o->state = ch == '}' ? OBJ_AFTER : OBJ_BAD;
			break;
		case ',':
			if (o->depth == 1)
				o->key_pos = true;
			break;
		default:
			if (o->depth == 1)
				o->key_pos = false;
			break;
		}
	}
	return o->state == OBJ_BAD ? FMT_OBJ_NO : FMT_OBJ_MORE;
}

int fmt_obj_end(const struct fmt_obj *o)
{
	return o->state == OBJ_AFTER && o->u8_need == 0 ? FMT_OBJ_YES : FMT_OBJ_NO;
}

size_t fmt_merge_head(char *dst, size_t cap, const char *head, size_t len,
		      const struct config *cfg, const struct fmt_obj *o)
{
	static const char msg[] = ",\"message\":\"";
	size_t o_ = 0, end;

	if (len < sizeof msg - 1 || memcmp(head + len - (sizeof msg - 1), msg, sizeof msg - 1) != 0)
		return 0;
	end = len - (sizeof msg - 1);
	/* Members: each key is the string after '{' or ','; our values hold
	 * no '"', so a key starts at every '"' that follows '{' or ','. */
	for (size_t i = 0; i < end; i++) {
		if (o_ + 8 > cap)
			return 0;
		dst[o_++] = head[i];
		if ((head[i] == '{' || head[i] == ',') && i + 1 < end && head[i + 1] == '"') {
			const char *k = head + i + 2, *q = memchr(k, '"', end - (size_t)(k - head));
			int idx = q ? our_index(cfg, k, (size_t)(q - k)) : -1;

			dst[o_++] = '"';
			i++;
			if (idx >= 0 && (o->clash & (1u << idx))) {
				memcpy(dst + o_, "reqctx.", 7);
				o_ += 7;
			}
		}
	}
	if (o->members) {
		if (o_ + 1 > cap)
			return 0;
		dst[o_++] = ',';
	}
	return o_;
}
