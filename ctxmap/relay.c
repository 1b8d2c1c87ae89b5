/*
 * relay.c - the shared table of relay.h. Sound before complete: a read is
 * given a request only when every byte it consumed lies in records of that
 * one request and every record that ended in it hashed right; a record
 * that hashes wrong (bytes the agent did not see written: another writer,
 * stdio's internal writes, writers racing for offsets) makes the pipe
 * "desynchronised" for good, and its reads carry nothing from then on.
 */
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "base/debug.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/thread.h"
#include "ctxmap/relay.h"

/* Pipes written into at once (a php-fpm pool recycling 24 workers has
 * some 30: the dead ones' until the master closes them) */
#define RELAY_PIPES 64
/* Per pipe: how far a reader may lag, in writes (512: a full 64 KiB pipe
 * of 128-byte lines; php-fpm's master falls behind by whole requests). */
#define RELAY_RECS 512
/* Per pipe: the requests its records name (a php-fpm master busy beside
 * nginx on 2 CPUs was seen 30 requests behind one worker; 16 slots made
 * the oldest 14 of those lines bare). At most 255: a record's slot byte. */
#define RELAY_NAMES 64

/* A request that wrote into the pipe; records name it by slot. */
struct relay_name {
	uint16_t gen;                 /* bumped when the slot takes another */
	uint8_t id_len;
	uint8_t has_trace, trace_flags;
	char id[CTX_ID_MAX + 1];
	char trace_id[33];
};

struct relay_rec {                /* a write: 24 bytes */
	uint64_t start;
	uint64_t hash;
	uint32_t len;
	uint16_t gen;                 /* names[name - 1].gen when written */
	uint8_t name;                 /* 1 + its slot; 0: outside any request */
	uint8_t hashed;
};

struct relay_pipe {
	int lock;
	bool bad;
	uintptr_t key;                /* 0: free */
	uint64_t wpos, rpos;          /* bytes written (recorded), bytes read */
	uint64_t rh_start;            /* the record the reader is inside ... */
	uint64_t rh;                  /* ... and its running hash */
	bool mid_line;                /* the last byte read was not a '\n' */
	uint64_t line_start;          /* then: where that unfinished line began */
	uint64_t epoch;               /* which claim of the entry (relay_lines) */
	pid_t reader;                 /* the first process that read it; 0: none yet */
	uint32_t next;
	uint8_t name_last, name_next; /* the slot last written, the next to take */
	uint32_t name_hash[RELAY_NAMES]; /* id_hash() of each slot's ID: the scan */
	struct relay_name names[RELAY_NAMES];
	struct relay_rec recs[RELAY_RECS];
};

struct relay_table {
	int lock;                     /* for claiming pipe entries */
	int used;                     /* entries ever claimed: 0, nothing to look up */
	uint64_t claims;              /* entries claimed so far (epochs) */
	struct relay_pipe pipes[RELAY_PIPES];
};

static struct relay_table *table;
static int no_entries;
int *relaymap_used = &no_entries;


void relaymap_init(void)
{
	struct relay_table *m, *expected = NULL;

	if (__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		return;
	m = mmap(NULL, sizeof(struct relay_table), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;
	if (!__atomic_compare_exchange_n(&table, &expected, m, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		munmap(m, sizeof(struct relay_table));
	else
		__atomic_store_n(&relaymap_used, &m->used,
				 __ATOMIC_RELEASE);
}

/* The entry of `key`; with `claim`, a free one is claimed for it. */
static struct relay_pipe *find(uintptr_t key, bool claim)
{
	struct relay_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
	struct relay_pipe *freep = NULL;

	if (t == NULL || key == 0 || (!claim && !__atomic_load_n(&t->used, __ATOMIC_RELAXED)))
		return NULL;
	for (int i = 0; i < RELAY_PIPES; i++) {
		uintptr_t k = __atomic_load_n(&t->pipes[i].key, __ATOMIC_ACQUIRE);

		if (k == key)
			return &t->pipes[i];
		if (k == 0 && freep == NULL)
			freep = &t->pipes[i];
	}
	if (!claim)
		return NULL;
	spin_lock(&t->lock);
	/* Keys are stored to 0 by relaymap_forget without this lock. */
	for (int i = 0; i < RELAY_PIPES; i++)
		if (__atomic_load_n(&t->pipes[i].key, __ATOMIC_ACQUIRE) == key) {
			spin_unlock(&t->lock);
			return &t->pipes[i];
		}
	freep = NULL;
	for (int i = 0; i < RELAY_PIPES && freep == NULL; i++)
		if (__atomic_load_n(&t->pipes[i].key, __ATOMIC_ACQUIRE) == 0)
			freep = &t->pipes[i];
	if (freep) {
		/* Under its own lock: a thread (of any process sharing the
		 * table) that found the entry under its old key may hold it
		 * (see locked()). The records stay as they are: none before
		 * `next` is read. */
		spin_lock(&freep->lock);
		freep->bad = false;
		/* `key`, read without a lock by find(), stays 0 until stored. */
		memset((char *)freep + offsetof(struct relay_pipe, wpos), 0,
		       offsetof(struct relay_pipe, recs) - offsetof(struct relay_pipe, wpos));
		freep->epoch = ++t->claims;
		__atomic_store_n(&freep->key, key, __ATOMIC_RELEASE);
		spin_unlock(&freep->lock);
		__atomic_store_n(&t->used, 1, __ATOMIC_RELAXED);
	}
	spin_unlock(&t->lock);
	return freep;
}

/* The entry of `key` (claimed for it with `claim`), locked, or NULL. The
 * entry found without a lock may have been forgotten and claimed for
 * another pipe before its lock was taken: then NULL, as if never made (a
 * write unrecorded, a read of nobody's bytes), never another pipe's
 * records. */
static struct relay_pipe *locked(uintptr_t key, bool claim)
{
	struct relay_pipe *p = find(key, claim);

	if (p == NULL)
		return NULL;
	spin_lock(&p->lock);
	if (__atomic_load_n(&p->key, __ATOMIC_RELAXED) != key) {
		spin_unlock(&p->lock);
		return NULL;
	}
	return p;
}

static bool has_trace(const struct ctx_name *nm)
{
	return nm->origin == CTX_ADOPTED || nm->trace_id[0];
}

/* Slot `s` names the request of `nm`: its ID and its trace (two requests
 * may come with one X-Request-Id and different traceparents). */
static bool name_is(const struct relay_name *s, const struct ctx_name *nm)
{
	if (s->id_len != nm->id_len || memcmp(s->id, nm->id, nm->id_len) != 0)
		return false;
	if (!has_trace(nm))
		return !s->has_trace;
	return s->has_trace && s->trace_flags == nm->trace_flags &&
	       memcmp(s->trace_id, nm->trace_id, 33) == 0;
}

/* 32-bit FNV-1a of an ID: a slot's ID is compared only where this agrees
 * (64 slots of IDs that differ in their last bytes cost a memcmp each). */
static uint32_t id_hash(const char *id, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	return h;
}

/* The slot of `nm` among p's names (1 + index): its own, else the oldest
 * taken for it. Under p->lock. */
static uint8_t name_slot(struct relay_pipe *p, const struct ctx_name *nm)
{
	struct relay_name *s;
	unsigned i = p->name_last;

	if (!name_is(&p->names[i], nm)) {
		uint32_t h = id_hash(nm->id, nm->id_len);

		for (i = 0; i < RELAY_NAMES; i++)
			if (p->name_hash[i] == h && name_is(&p->names[i], nm))
				break;
		if (i == RELAY_NAMES) {
			i = p->name_next++ % RELAY_NAMES;
			p->name_hash[i] = h;
			s = &p->names[i];
			s->gen++;                     /* its records name nobody now */
			s->id_len = (uint8_t)nm->id_len;
			memcpy(s->id, nm->id, (size_t)nm->id_len + 1);
			s->has_trace = 0;
			if (has_trace(nm)) {
				memcpy(s->trace_id, nm->trace_id, 33);
				s->has_trace = 1;
				s->trace_flags = nm->trace_flags;
			}
		}
	}
	p->name_last = (uint8_t)i;
	return (uint8_t)(i + 1);
}

void relaymap_wrote(uintptr_t key, const struct ctx *c, const void *data, size_t n)
{
	struct relay_pipe *p;
	struct relay_rec *r;

	if (n == 0 || (p = locked(key, true)) == NULL)
		return;
	r = &p->recs[p->next++ % RELAY_RECS];
	r->start = p->wpos;
	r->len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	p->wpos += r->len;
	r->hashed = data != NULL;
	r->hash = data ? fnv1a(FNV_OFFSET, data, r->len) : 0;
	r->name = 0;
	if (c) {
		r->name = name_slot(p, ctx_name(c));
		r->gen = p->names[r->name - 1].gen;
	}
	spin_unlock(&p->lock);
}

/* The request that wrote record `r`: NULL when none (written outside any
 * request, or its slot has since taken another). */
static const struct relay_name *rec_name(const struct relay_pipe *p, const struct relay_rec *r)
{
	const struct relay_name *s;

	if (r->name == 0)
		return NULL;
	s = &p->names[r->name - 1];
	return s->gen == r->gen ? s : NULL;
}

void relaymap_unwrote(uintptr_t key, size_t n, long r)
{
	struct relay_pipe *p;
	size_t took = r <= 0 ? 0 : (size_t)r;
	struct relay_rec *last;

	if (took >= n || (p = locked(key, false)) == NULL)
		return;
	last = &p->recs[(p->next + RELAY_RECS - 1) % RELAY_RECS];
	if (p->next && last->start + last->len == p->wpos && last->len == n) {
		/* the hash was of all n bytes: the shorter record cannot be
		 * checked, so it is not trusted */
		last->len = (uint32_t)took;
		last->hashed = 0;
		p->wpos -= n - took;
	} else {
		p->bad = true;        /* another write came between: offsets unknown */
	}
	spin_unlock(&p->lock);
}

/* The record holding offset `pos`, or NULL (overwritten, or never made):
 * the ring's records, oldest to newest, begin ever later; the last that
 * begins at or before pos. */
static struct relay_rec *rec_at(struct relay_pipe *p, uint64_t pos)
{
	uint32_t count = p->next < RELAY_RECS ? p->next : RELAY_RECS;
	uint32_t first = p->next - count, lo = 0, hi = count;   /* in [lo, hi) */
	struct relay_rec *r;

	if (count == 0 || p->recs[first % RELAY_RECS].start > pos)
		return NULL;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->recs[(first + mid) % RELAY_RECS].start <= pos)
			lo = mid;
		else
			hi = mid;
	}
	r = &p->recs[(first + lo) % RELAY_RECS];
	return pos < r->start + r->len ? r : NULL;
}

/* A byte after which a line begins: '\n', or the NUL that ends a C
 * string (php-fpm's workers end each request's output with "\0fscf\0",
 * which its master takes as the end of a line). */
static bool ends_line(unsigned char c)
{
	return c == '\n' || c == '\0';
}

/* Where the line that b[a] is in ends: the offset of its '\n' or NUL, or
 * `to` when it does not end before it. */
static size_t line_end(const unsigned char *b, size_t a, size_t to)
{
	while (a < to && !ends_line(b[a]))
		a++;
	return a;
}

static void ids_of(struct relay_ids *out, const struct relay_name *s)
{
	out->id_len = s->id_len;
	memcpy(out->id, s->id, (size_t)s->id_len + 1);
	out->has_trace = s->has_trace;
	memcpy(out->trace_id, s->trace_id, 33);
	out->trace_flags = s->trace_flags;
}

/* Request `s` in `lines`: its index, or -1 when full. */
static int who_of(struct relay_lines *lines, const struct relay_name *s)
{
	unsigned i;

	for (i = 0; i < lines->nwho; i++)
		if (lines->ids[i].id_len == s->id_len &&
		    memcmp(lines->ids[i].id, s->id, s->id_len) == 0)
			return (int)i;
	if (i == RELAY_WHO_MAX)
		return -1;
	ids_of(&lines->ids[i], s);
	lines->nwho++;
	return (int)i;
}

#define NO_START SIZE_MAX

/* Adds the whole lines of b[from, to) (read offsets), all of a record of
 * request `r`, checked, each ended by its '\n' or a NUL. `start`: where the line that
 * b[from] is in began, when that is known to be the request's (from
 * itself when a line begins there; in an earlier record of the same
 * request, checked in this read); NO_START when not. Returns where the
 * line unfinished at `to` began, when known, or NO_START. */
static size_t add_lines(struct relay_lines *lines, const unsigned char *b, size_t from, size_t to,
			size_t start, const struct relay_name *r)
{
	size_t a = from;
	int who = -2;

	while (a < to && lines->n < RELAY_LINES_MAX) {
		size_t end = line_end(b, a, to);

		if (end == to)
			return start;            /* unfinished in this record */
		if (start != NO_START) {
			if (who == -2)
				who = who_of(lines, r);
			if (who < 0)
				return NO_START;
			lines->line[lines->n].off = (uint32_t)start;
			lines->line[lines->n].len = (uint32_t)(end + 1 - start);
			lines->line[lines->n].who = (uint8_t)who;
			lines->n++;
		}
		a = end + 1;
		start = a;
	}
	return NO_START;
}

static bool same_id(const struct relay_name *a, const struct relay_name *b)
{
	return a->id_len == b->id_len && memcmp(a->id, b->id, a->id_len) == 0;
}

/* relay_lines' other lines: each line of b[0, n) not listed (see relay.h). */
static void list_others(struct relay_lines *lines, const unsigned char *b, size_t n, bool mid_line)
{
	size_t a = 0, next = 0;

	lines->nother = 0;
	lines->cont = lines->open = lines->overflow = false;
	while (a < n) {
		size_t end, len;
		bool cont = a == 0 && mid_line, open, found = false;

		end = line_end(b, a, n);
		open = end == n;
		len = end - a;                   /* without its end */
		if (!open)
			end++;
		if (open && len == 0)
			break;
		for (size_t k = next; k < lines->n && !found; k++)
			if (lines->line[k].off == a && lines->line[k].len == end - a) {
				found = true;
				next = k + 1;
			}
		if (!found && (cont || open || len >= RELAY_LINE_MIN)) {
			if (lines->nother == RELAY_LINES_MAX) {
				lines->overflow = true;
				return;
			}
			lines->other[lines->nother].off = (uint32_t)a;
			lines->other[lines->nother].len = (uint32_t)(end - a);
			lines->nother++;
			lines->cont |= cont;
			lines->open |= open;
		}
		a = end;
	}
}

enum relay_verdict relaymap_read(uintptr_t key, const void *data, size_t dlen, size_t n,
				 struct relay_ids *out, struct relay_lines *lines)
{
	struct relay_pipe *p = locked(key, false);
	const unsigned char *b = data;
	const struct relay_name *one = NULL;
	bool mixed = false, was_mid_line;
	uint64_t line_start;
	/* a line begun in a record of this read that the next may end */
	size_t carry = NO_START, carry_to = 0;
	const struct relay_name *carry_r = NULL;
	int nobody = 0, unrec = 0, others = 0;
	uint64_t pos, end;

	if (lines) {
		lines->n = lines->nwho = lines->nother = 0;
		lines->cont_head = 0;
		lines->cont = lines->open = false;
		lines->overflow = true;          /* until listed: nothing vouched */
	}
	if (p == NULL)
		return RELAY_NONE;
	if (p->reader == 0)
		p->reader = agent_pid;
	pos = p->rpos;
	end = pos + n;
	p->rpos = end;
	if (p->bad || dlen < n || data == NULL) {
		p->bad = true;
		spin_unlock(&p->lock);
		return RELAY_NOBODY;
	}
	was_mid_line = p->mid_line;
	line_start = p->line_start;
	if (lines) {
		lines->at = end - n;
		lines->epoch = p->epoch;
	}
	p->mid_line = n > 0 && !ends_line(b[n - 1]);
	if (p->mid_line) {
		size_t j = n;

		while (j > 0 && !ends_line(b[j - 1]))
			j--;
		if (j > 0 || !was_mid_line)
			p->line_start = end - n + j;
	}
	while (pos < end) {
		struct relay_rec *r = rec_at(p, pos);
		const struct relay_name *nm = r ? rec_name(p, r) : NULL;
		uint64_t stop;

		/* bytes no record vouches for: none, not hashed, or its
		 * request's slot taken by another since */
		if (r == NULL || !r->hashed || (r->name && nm == NULL)) {
			mixed = true;
			unrec++;
			if (r == NULL)
				break;
			pos = r->start + r->len;
			continue;
		}
		if (pos == r->start) {
			p->rh_start = r->start;
			p->rh = FNV_OFFSET;
		} else if (p->rh_start != r->start) {
			mixed = true;            /* its beginning was not checked */
			pos = r->start + r->len;
			continue;
		}
		stop = r->start + r->len < end ? r->start + r->len : end;
		p->rh = fnv1a(p->rh, b + (pos - (end - n)), (size_t)(stop - pos));
		if (stop == r->start + r->len && p->rh != r->hash) {
			p->bad = true;           /* not the bytes recorded: out of step */
			break;
		}
		if (lines && stop == r->start + r->len && nm) {
			size_t from = (size_t)(pos - (end - n)), to = (size_t)(stop - (end - n));
			bool at_start = from ? ends_line(b[from - 1]) : !was_mid_line;

			if (!at_start && from == 0 && r->start <= line_start) {
				/* the line the read before left open began in
				 * this record, checked now: whole, the record's */
				size_t e = line_end(b, 0, to);

				if (e < to && lines->n < RELAY_LINES_MAX) {
					int who = who_of(lines, nm);

					if (who >= 0) {
						lines->line[0].off = 0;
						lines->line[0].len = (uint32_t)(e + 1);
						lines->line[0].who = (uint8_t)who;
						lines->n = 1;
						lines->cont_head = (uint32_t)(end - n - line_start);
					}
				}
			}
			if (at_start)
				carry = from;
			else if (carry == NO_START || carry_to != from || !same_id(carry_r, nm))
				carry = NO_START;        /* begun outside this request's
				                            records checked here */
			carry = add_lines(lines, b, from, to, carry, nm);
			carry_to = to;
			carry_r = nm;
		} else {
			carry = NO_START;
		}
		pos = stop;
		if (nm == NULL) {
			mixed = true;
			nobody++;
		} else if (one && !same_id(one, nm)) {
			mixed = true;
			others++;
		}
		if (nm)
			one = nm;
	}
	if (lines && !p->bad)
		list_others(lines, b, n, was_mid_line);
	if (p->bad && lines)
		lines->n = lines->nwho = lines->cont_head = 0;
	if (p->bad || mixed || one == NULL) {
		DEBUG("relay read %zu bytes at %llu: %s (unrecorded %d, outside requests %d, other requests %d)",
		      n, (unsigned long long)(end - n),
		      p->bad ? "pipe out of step" : mixed ? "mixed" : "no record", unrec, nobody, others);
		spin_unlock(&p->lock);
		return RELAY_NOBODY;
	}
	ids_of(out, one);
	spin_unlock(&p->lock);
	return RELAY_ONE;
}

bool relaymap_has(uintptr_t key)
{
	return find(key, false) != NULL;
}

void relaymap_forget(uintptr_t key, bool made_here)
{
	struct relay_pipe *p = locked(key, false);
	pid_t reader;

	if (p == NULL)
		return;
	reader = __atomic_load_n(&p->reader, __ATOMIC_RELAXED);
	if (reader == agent_pid || (reader == 0 && made_here))
		__atomic_store_n(&p->key, 0, __ATOMIC_RELEASE);
	spin_unlock(&p->lock);
}
