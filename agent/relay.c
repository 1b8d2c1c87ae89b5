/*
 * relay.c - the rules of relay.h over ctxmap/relay.c's records. Must never
 * change a byte written into the pipe, nor give the reader a request the
 * records do not prove (see ctxmap/relay.c: one request, hashes checked).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/relay.h"
#include "base/debug.h"
#include "base/lock.h"
#include "base/mem.h"
#include "ctxmap/relay.h"

/* Each pipe's channel keeps the pid that made it (no system call in the
 * host's pipe()): only a forked child's writes into its parent's pipe are
 * relayed. A process that reads its own stderr pipe, or a reader outside
 * the agent that a process made the pipe for, gets prefixed lines as
 * before. */
void relay_pipe_made(struct chan *c)
{
	relaymap_init();
	if (c)
		c->maker = agent_pid;
}

/* True when `c` was made by another process than this one (a parent). */
static bool made_by_parent(const struct chan *c)
{
	pid_t maker = c->maker;

	return maker != 0 && maker != agent_pid;   /* agent_pid: updated in every copy (agent/fork.c) */
}

/* The pipe fd 2 was relayed onto, by its inode: an open() of it
 * (/proc/self/fd/2, /dev/stderr: PHP's error_log) is relayed too. */
static bool relayed_known;
static dev_t relayed_dev;
static ino_t relayed_ino;

void relay_opened(int fd)
{
	struct fdslot *two;
	struct stat st;
	int saved;

	if (!__atomic_load_n(&relayed_known, __ATOMIC_RELAXED) || fd <= 2)
		return;
	two = fdmap_peek(2);
	if (two == NULL || fdmap_kind(two) != FD_CHAN ||
	    !(__atomic_load_n(&two->flags, __ATOMIC_RELAXED) & FDF_RELAY))
		return;
	saved = errno;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == relayed_dev &&
	    st.st_ino == relayed_ino) {
		fdmap_copy(2, fd);
		DEBUG("fd %d: opened on the relayed pipe of fd 2", fd);
	}
	errno = saved;
}

bool relay_source(int from, int to)
{
	struct fdslot *src = fdmap_peek(from);

	return (to == 1 || to == 2) && src != NULL && fdmap_kind(src) == FD_CHAN &&
	       src->tx != NULL && src->rx == NULL && made_by_parent(src->tx);
}

bool relay_dup(int from, int to)
{
	struct fdslot *dst;

	if (!relay_source(from, to))
		return false;
	dst = fdmap_peek(to);
	if (dst == NULL)
		return false;
	__atomic_or_fetch(&dst->flags, FDF_RELAY, __ATOMIC_RELAXED);
	if (to == 2) {
		struct stat st;
		int saved = errno;

		if (fstat(2, &st) == 0) {
			relayed_dev = st.st_dev;
			relayed_ino = st.st_ino;
			__atomic_store_n(&relayed_known, true, __ATOMIC_RELEASE);
		}
		errno = saved;
	}
	DEBUG("fd %d: relayed pipe (dup of fd %d): written unchanged, requests recorded", to, from);
	return true;
}

void relay_write(struct fdslot *s, const void *data, size_t n)
{
	relaymap_wrote(relay_key(__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE)), ctx_carried(), data, n);
}

void relay_write_done(struct fdslot *s, size_t n, ssize_t r)
{
	relaymap_unwrote(relay_key(__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE)), n, (long)r);
}

/* A context for what the shared table says; NULL when it does not pass
 * the checks a header gets (the table is shared memory). */
static struct ctx *ctx_of(struct relay_ids *ids)
{
	struct ctx_seed seed = { 0 };

	if (!http_valid_id(ids->id, ids->id_len))
		return NULL;
	for (int i = 0; ids->has_trace && i < 32; i++)
		if (!((ids->trace_id[i] >= '0' && ids->trace_id[i] <= '9') ||
		      (ids->trace_id[i] >= 'a' && ids->trace_id[i] <= 'f')))
			ids->has_trace = false;
	seed.id = ids->id;
	seed.id_len = ids->id_len;
	if (ids->has_trace) {
		seed.trace_id = ids->trace_id;
		seed.trace_flags = ids->trace_flags;
	}
	return ctx_new(&seed);
}

/*
 * The whole lines the reading thread took from relayed pipes, each with
 * the request that wrote it (a reference): a line the thread writes that
 * holds one of them is about it (php-fpm's master reads a worker's pipe and
 * writes each line it took into "child N said into stderr: ..."; one read
 * may hold lines of two requests the worker served one after the other,
 * and the master may read again before it writes the lines of the first
 * read). Agent memory, one per thread that reads a relayed pipe.
 *
 * The read's other lines (no request known to have written them whole:
 * relay_lines.other) are kept too, with no request, as blockers: a kept
 * line that one of them, or another request's line, holds may be a piece
 * of that one (a master wraps and cuts long lines), so it names nothing.
 * A line left open at a read's end is joined with its continuation in the
 * next read of the same pipe (a tail per pipe: a master reads its workers'
 * pipes in turn, and each read may end inside a line; STASH_TAILS pipes
 * at once, the least recently read's tail goes first; a continuation
 * whose beginning went is kept as a blocker). What does not fit makes the
 * stash uncertain:
 * lines written then carry nothing. It vouches only while the thread's
 * context is the one its last relayed read left (`switches`: any other
 * switch - an event, an accept, a read of a client, a fork - makes it
 * stale).
 */
#define STASH_LINES 160
#define STASH_BYTES 8192
#define STASH_TAIL 1024
#define STASH_TAILS 32            /* pipes with a line open at once */
#define STASH_TURNS 8             /* a line not yet written stays that many turns */
#define STASH_PREV 128
/* The beginning of a line a read of pipe `key` left open. */
struct relay_tail {
	uintptr_t key;           /* the pipe (0: free), */
	uint64_t epoch;          /* its claim (relay_lines.epoch), */
	uint64_t end;            /* where in it that read ended, */
	uint64_t used;           /* when it was last set (stash's clock) */
	size_t len;              /* and that line's bytes so far */
	char text[STASH_TAIL];
};
struct relay_stash {
	struct relay_lines read;  /* the last read's lines, as relaymap_read()
	                             tells them (here, not on the stack: ~8 KiB) */
	unsigned n, bytes;
	unsigned old;            /* the first `old` are of turns before */
	unsigned switches;       /* agent_self.switches after the last relayed read */
	bool uncertain;
	/* c NULL: a blocker. A written line holds an entry when it holds
	 * its first `hold` bytes (held_len): a line read in pieces is one
	 * blocker, its pieces so far, held by what holds its first piece
	 * (so by what holds any of them). */
	/* piece: the beginning of a line a read left open; written: a
	 * line of a request that a line the thread wrote held */
	struct {
		struct ctx *c;
		uint16_t off, len, hold;
		bool piece, written;
		uint32_t turn;   /* st->turn when kept */
	} e[STASH_LINES];
	uint32_t turn;           /* turns of relayed reads so far */
	bool piece_last;         /* the last entry is the pieces of the line */
	uintptr_t piece_key;     /* ... pipe piece_key's read left unfinished */
	char text[STASH_BYTES];
	uint64_t clock;
	struct relay_tail tails[STASH_TAILS];
	uint16_t prev_len;       /* the thread's last line written: its bytes */
	char prev[STASH_PREV];   /* before the first kept line it held (line_written) */
};

void relay_stash_clear(void)
{
	struct relay_stash *st = agent_self.relay_stash;
	unsigned n;

	if (st == NULL)
		return;
	/* emptied before the references go: a signal handler's line read
	 * in between sees no entry, not a released context */
	n = st->n;
	st->n = st->bytes = st->old = 0;
	st->piece_last = false;
	st->uncertain = false;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		ctx_put(st->e[i].c);
}

/* A new turn of relayed reads (another switch came since the last): the
 * lines kept so far become lines of turns before (st->old), which name
 * their request only to a line that holds a line of this turn of the same
 * request (one of them may still be written, after a wait or a few reads
 * later, by a thread now in another request), the oldest first to go when
 * the new turn's lines need the room (make_room). */
static void stash_new_turn(struct relay_stash *st)
{
	st->old = st->n;
	st->uncertain = false;
	st->turn++;
}

static bool same_request(const struct ctx *a, const struct ctx *b)
{
	const struct ctx_name *x = ctx_name(a), *y = ctx_name(b);

	return x->id_len == y->id_len && memcmp(x->id, y->id, x->id_len) == 0;
}

/* Room for `len` more bytes and `entries` (0 or 1) more entries, made by
 * letting go, oldest first, the lines of requests a line the thread wrote
 * held already (a master writes a line it read once; a master that reads
 * without pause - every read mixed, no switch between - would otherwise
 * fill it with one turn) and the lines of STASH_TURNS turns before or
 * older; false when the others fill it (a line not yet written that went
 * could be written later, holding a newer line of another request: "line
 * id=r12" holds "line id=r1"). */
static bool make_room(struct relay_stash *st, size_t len, unsigned entries)
{
	unsigned n = st->n, k = 0, bytes = 0, freed = 0, ndrop = 0, old = 0;
	unsigned max = STASH_LINES - entries, i;
	struct ctx *put[STASH_LINES];
	bool gone[STASH_LINES];

	if (n <= max && st->bytes + len <= STASH_BYTES)
		return true;
	for (i = 0; i < n && (n - ndrop > max || st->bytes - freed + len > STASH_BYTES); i++) {
		gone[i] = st->e[i].written ||
			  (i < st->old && st->e[i].turn + STASH_TURNS <= st->turn);
		if (gone[i]) {
			freed += st->e[i].len;
			ndrop++;
		}
	}
	if (n - ndrop > max || st->bytes - freed + len > STASH_BYTES)
		return false;
	for (; i < n; i++)
		gone[i] = false;
	/* A line of another request that a line going holds names nobody
	 * from now on: the longer line, written again, would hold it alone
	 * ("line id=r1" in "line id=r12 ..."); so would a line of the same
	 * text, written late (as line_ctx, which names nobody for a line
	 * that a kept line of another request holds, as long or longer). */
	for (i = 0; i < n; i++) {
		if (!gone[i] || st->e[i].c == NULL)
			continue;
		for (unsigned q = 0; q < n; q++)
			if (!gone[q] && st->e[q].c && st->e[q].len <= st->e[i].len &&
			    !same_request(st->e[q].c, st->e[i].c) &&
			    memmem(st->text + st->e[i].off, st->e[i].len,
				   st->text + st->e[q].off, st->e[q].len)) {
				struct ctx *was = st->e[q].c;

				st->e[q].c = NULL;
				__atomic_signal_fence(__ATOMIC_SEQ_CST);
				ctx_put(was);
			}
	}
	if (n && gone[n - 1])
		st->piece_last = false;
	st->n = 0;                           /* nothing to read while it moves */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ndrop = 0;
	for (i = 0; i < n; i++) {
		if (gone[i]) {
			put[ndrop++] = st->e[i].c;
			continue;
		}
		memmove(st->text + bytes, st->text + st->e[i].off, st->e[i].len);
		st->e[k] = st->e[i];
		st->e[k].off = (uint16_t)bytes;
		bytes += st->e[i].len;
		old += i < st->old;
		k++;
	}
	st->bytes = bytes;
	st->old = old;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st->n = k;
	for (i = 0; i < ndrop; i++)
		ctx_put(put[i]);
	return true;
}

void relay_stash_free(void)
{
	struct relay_stash *st = agent_self.relay_stash;

	if (st == NULL)
		return;
	relay_stash_clear();
	agent_self.relay_stash = NULL;
	mem_free(st, sizeof *st);
}

/* Keeps `len` bytes (two pieces) as a line of `c` (NULL: a blocker; the
 * reference is the caller's to give). False when there is no room. */
static bool keep(struct relay_stash *st, struct ctx *c, const char *a, size_t alen,
		 const char *b, size_t blen)
{
	size_t len = alen + blen;

	if (!make_room(st, len, 1))
		return false;
	if (alen)
		memcpy(st->text + st->bytes, a, alen);
	if (blen)
		memcpy(st->text + st->bytes + alen, b, blen);
	if (c)
		ctx_get(c);
	st->e[st->n].c = c;
	st->e[st->n].off = (uint16_t)st->bytes;
	st->e[st->n].len = st->e[st->n].hold = (uint16_t)len;
	st->e[st->n].piece = st->e[st->n].written = false;
	st->e[st->n].turn = st->turn;
	st->bytes += (unsigned)len;
	st->n++;
	st->piece_last = false;
	return true;
}

/* Keeps the next piece p[0, len) of pipe `key`'s unfinished line, whose
 * first `head` bytes (tail `t`, or none) came before: the last entry, its
 * pieces so far, grows; without it, a new blocker of all `head + len`
 * bytes. */
static bool keep_piece(struct relay_stash *st, uintptr_t key, const struct relay_tail *t,
		       size_t head, const char *p, size_t len)
{
	/* make_room may let the entry go (then piece_last is false) */
	if (head && st->piece_last && st->piece_key == key && make_room(st, len, 0) &&
	    st->piece_last) {
		unsigned last = st->n - 1;

		if (st->e[last].off + st->e[last].len == st->bytes &&
		    st->e[last].len + len <= UINT16_MAX) {
			memcpy(st->text + st->bytes, p, len);
			st->bytes += (unsigned)len;
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			st->e[last].len = (uint16_t)(st->e[last].len + len);
			return true;
		}
	}
	if (!keep(st, NULL, t ? t->text : NULL, head, p, len))
		return false;
	st->e[st->n - 1].piece = true;
	st->piece_last = true;
	st->piece_key = key;
	return true;
}

/* The tail of pipe `key`, or NULL. */
static struct relay_tail *tail_of(struct relay_stash *st, uintptr_t key)
{
	for (unsigned i = 0; i < STASH_TAILS; i++)
		if (st->tails[i].key == key)
			return &st->tails[i];
	return NULL;
}

/* Pipe `key`'s unfinished line when it is the beginning of what `lines`'
 * read continues: the same claim of the pipe's entry, and this read
 * begins where the one that left it ended (not a read another thread or
 * process made in between); else NULL. */
static struct relay_tail *tail_continues(struct relay_stash *st, uintptr_t key,
					 const struct relay_lines *lines)
{
	struct relay_tail *t = tail_of(st, key);

	return t && t->epoch == lines->epoch && t->end == lines->at ? t : NULL;
}

/* Pipe `key`'s tail to set: its own, a free one, or the least recently
 * set one. */
static struct relay_tail *tail_for(struct relay_stash *st, uintptr_t key)
{
	struct relay_tail *t = tail_of(st, key);

	if (t == NULL) {
		t = &st->tails[0];
		for (unsigned i = 1; i < STASH_TAILS && t->key; i++)
			if (st->tails[i].key == 0 || st->tails[i].used < t->used)
				t = &st->tails[i];
	}
	return t;
}

static void tail_drop(struct relay_stash *st, uintptr_t key)
{
	struct relay_tail *t = tail_of(st, key);

	if (t)
		t->key = 0;
}

/* The line tail `t` began came whole and is kept with its request: the
 * blocker its pieces made may go first when room is needed (make_room),
 * as a written line's. */
static void piece_done(struct relay_stash *st, const struct relay_tail *t)
{
	for (unsigned i = st->n; i-- > 0;)
		if (st->e[i].c == NULL && st->e[i].piece && !st->e[i].written &&
		    st->e[i].len == t->len && memcmp(st->text + st->e[i].off, t->text, t->len) == 0) {
			st->e[i].written = true;
			return;
		}
}

/* Keeps the read's lines (relay_lines); false when one did not fit or a
 * line could not be told. */
static bool stash_lines(struct relay_stash *st, uintptr_t key, const char *b,
			struct relay_lines *lines)
{
	struct ctx *who[RELAY_WHO_MAX] = { NULL };
	bool tried[RELAY_WHO_MAX] = { false }, all = !lines->overflow;
	struct relay_tail *t = NULL;

	for (unsigned i = 0; i < lines->n && all; i++) {
		size_t len = lines->line[i].len - 1;            /* without its '\n' */
		size_t head = i == 0 ? lines->cont_head : 0;
		unsigned w = lines->line[i].who;

		if (head) {
			/* the rest of the line the read before left open:
			 * whole with its beginning, kept then */
			t = tail_continues(st, key, lines);
			if (t == NULL || t->len != head) {
				/* its beginning is not known (the pipe's tail
				 * went, another read came between): the rest
				 * blocks as a line nobody wrote whole */
				tail_drop(st, key);
				all = len >= RELAY_LINE_MIN &&
				      keep(st, NULL, NULL, 0, b + lines->line[i].off, len);
				continue;
			}
			t->key = 0;
			piece_done(st, t);
		}
		if (head + len < RELAY_LINE_MIN)
			continue;
		if (!tried[w]) {
			who[w] = ctx_of(&lines->ids[w]);
			tried[w] = true;
		}
		/* an ID that fails the checks: the line is a blocker */
		all = keep(st, who[w], head ? t->text : NULL, head, b + lines->line[i].off, len);
	}
	for (unsigned i = 0; i < lines->nother && all; i++) {
		const char *p = b + lines->other[i].off;
		size_t len = lines->other[i].len, head = 0;
		bool cont = i == 0 && lines->cont && lines->other[0].off == 0;
		bool open = i == lines->nother - 1 && lines->open;

		if (!open && len && (p[len - 1] == '\n' || p[len - 1] == '\0'))
			len--;
		t = NULL;
		if (cont) {
			t = tail_continues(st, key, lines);
			if (t == NULL) {
				/* its beginning is not known: this part blocks,
				 * and so does what continues it */
				tail_drop(st, key);
				all = len >= RELAY_LINE_MIN && keep(st, NULL, NULL, 0, p, len);
				continue;
			}
			head = t->len;
		}
		all = cont || open ? keep_piece(st, key, t, head, p, len) :
				     keep(st, NULL, NULL, 0, p, len);
		if (!open && cont) {
			/* the line is whole (nobody known to have written it
			 * whole): its pieces end, it blocks as a line */
			if (all && st->n)
				st->e[st->n - 1].piece = false;
			st->piece_last = false;
		}
		if (open) {
			if (t == NULL)
				t = tail_for(st, key);
			if (head + len > STASH_TAIL) {
				all = false;
				t->key = 0;
				break;
			}
			memmove(t->text + head, p, len);
			t->len = head + len;
			t->key = key;
			t->epoch = lines->epoch;
			t->end = lines->at + lines->other[i].off + lines->other[i].len;
			t->used = ++st->clock;
		} else if (cont) {
			t->key = 0;
		}
	}
	for (unsigned w = 0; w < RELAY_WHO_MAX; w++)
		if (who[w])
			ctx_put(who[w]);
	return all;
}

/* How much of entry `i` a written line must hold to hold it: all of a
 * line, the first piece of one read in pieces (at least RELAY_LINE_MIN
 * bytes of it); 0, never, for a beginning shorter than that (a read that
 * ended a byte into a line: "l" is in every line, and it cannot hold a
 * line of a request whole; its line, once whole, is kept as it is). */
static size_t held_len(const struct relay_stash *st, unsigned i)
{
	size_t h = st->e[i].hold, len = st->e[i].len;

	if (len < RELAY_LINE_MIN)
		return 0;
	return h < RELAY_LINE_MIN ? RELAY_LINE_MIN : h;
}

/* Whether line p[0, n) holds kept line `k` where its text at m - p is
 * one of the places `k` holds blocker `i`'s text. */
static bool inside_kept(const struct relay_stash *st, unsigned k, unsigned i,
			const char *p, size_t n, const char *m)
{
	const char *u = st->text + st->e[k].off, *t = st->text + st->e[i].off;
	size_t ul = st->e[k].len, tl = held_len(st, i), at = (size_t)(m - p);

	for (const char *d = memmem(u, ul, t, tl); d; d = memmem(d + 1, ul - (size_t)(d + 1 - u), t, tl)) {
		size_t off = (size_t)(d - u);

		if (at >= off && at - off + ul <= n && memcmp(p + at - off, u, ul) == 0)
			return true;
	}
	return false;
}

/* True when line p[0, n) holds blocker `i` only as pieces of longer kept
 * lines of requests that it holds: every place it holds the blocker's
 * text lies inside a place it holds such a line (a read that ended
 * inside a line keeps its beginning as a blocker, "[date]
 * site=error_log id=", which every later line of the same shape begins
 * with). The blocker's own whole line, when written, holds what its
 * continuation brought, a blocker of its own (joined with it,
 * stash_lines); a line that holds the blocker anywhere else (two lines
 * joined) is blocked. Except, for the beginning of a line (a piece):
 * where the thread's line before had the same bytes in its own text, the
 * bytes before the first kept line it held (php-fpm's "[01-Dec-2026
 * 14:39:01] WARNING: ..." holds "[01-Dec-2026 14:3", where a read ended
 * inside a worker's "[01-Dec-2026 14:39:01 UTC] ..."; STASH_PREV bytes
 * at most). */
static bool piece_of_held_line(const struct relay_stash *st, unsigned i, const char *p, size_t n)
{
	const char *t = st->text + st->e[i].off;
	size_t tl = held_len(st, i);

	if (tl == 0)
		return false;
	for (const char *m = memmem(p, n, t, tl); m; m = memmem(m + 1, n - (size_t)(m + 1 - p), t, tl)) {
		bool inside = false;

		size_t at = (size_t)(m - p);

		if (st->e[i].piece && at + tl <= st->prev_len && memcmp(st->prev + at, t, tl) == 0)
			continue;                /* the master's own text */
		for (unsigned k = 0; k < st->n && !inside; k++)
			inside = st->e[k].c != NULL && st->e[k].len > tl &&
				 inside_kept(st, k, i, p, n, m);
		if (!inside)
			return false;
	}
	return true;
}

static const struct ctx *line_ctx(struct relay_stash *st, const struct ctx *cur, const char *p,
				  size_t n)
{
	const struct ctx *found = NULL, *late = NULL;
	bool stale, blocked = false;

	/* another switch since the last relayed read: the lines kept may
	 * have been written already, or a later request's line may hold the
	 * same text; a line that holds one names nothing */
	stale = st->switches != agent_self.switches;
	if (!stale && st->uncertain)
		return NULL;             /* also when nothing could be kept */
	if (st->n == 0)
		return stale ? cur : NULL;   /* as below: nothing held */
	for (unsigned i = 0; i < st->n; i++) {
		const char *t = st->text + st->e[i].off;
		size_t h = held_len(st, i);

		if (h == 0 || h > n || memmem(p, n, t, h) == NULL)
			continue;
		if (stale || st->e[i].c == NULL) {
			/* a line nobody is known to have written whole, or any
			 * line after another switch */
			if (!stale && piece_of_held_line(st, i, p, n))
				continue;
			blocked = true;
			continue;
		}
		if (i < st->old) {
			/* a line of a turn before: maybe written late; it
			 * names its request only to a line that a line of this
			 * turn of that request names too (a piece of a longer
			 * line held, as a blocker, names nothing) */
			if (piece_of_held_line(st, i, p, n))
				continue;
			if (late && !same_request(late, st->e[i].c))
				blocked = true;
			late = st->e[i].c;
			continue;
		}
		if (found && !same_request(found, st->e[i].c)) {
			DEBUG("relayed line holds lines of two requests");
			return NULL;
		}
		/* A line of another request, or one nobody is known to have
		 * written whole, that holds this one (as long or longer): the
		 * line written may be that one, or a piece of it (a master wraps
		 * or cuts long lines: php-fpm's log_limit). */
		for (unsigned k = 0; k < st->n; k++)
			if (k != i && st->e[k].len >= st->e[i].len &&
			    (st->e[k].c == NULL || !same_request(st->e[k].c, st->e[i].c)) &&
			    memmem(st->text + st->e[k].off, st->e[k].len, t, st->e[i].len)) {
				DEBUG("relayed line may be a piece of another line");
				return NULL;
			}
		found = st->e[i].c;
	}
	if (blocked || (late && !(found && same_request(found, late))))
		return NULL;
	/* In a turn of relayed reads, a line that holds no line taken is not
	 * told by them: a line cut shorter than the one it relays, or about
	 * bytes nobody recorded (a worker's stdio, a child it ran), would
	 * otherwise take the last read's request. */
	return found ? found : stale ? cur : NULL;
}

/* After line p[0, n) is written: the lines of requests it holds that no
 * longer line it holds holds too are written (make_room lets them go
 * first; a line held only inside another's, "line id=r1" in "line
 * id=r12", was not written), and its bytes before the first kept line of
 * a request it holds are the master's own text (piece_of_held_line:
 * php-fpm's "[date] WARNING: [pool www] child N said into stderr: \"");
 * a line that holds none tells nothing of it (a master that wrote a
 * piece it read as a line of its own). */
static void line_written(struct relay_stash *st, const char *p, size_t n)
{
	unsigned held[STASH_LINES], nh = 0;
	size_t own = n < STASH_PREV ? n : STASH_PREV;
	bool named = false;

	for (unsigned i = 0; i < st->n; i++) {
		size_t len = st->e[i].len;
		const char *m;

		if (len < RELAY_LINE_MIN || len > n ||
		    (m = memmem(p, n, st->text + st->e[i].off, len)) == NULL)
			continue;
		held[nh++] = i;
		if (st->e[i].c && (size_t)(m - p) < own)
			own = (size_t)(m - p);
		named = named || st->e[i].c;
	}
	if (!named)
		own = 0;                 /* no relayed line in it: nothing known */
	for (unsigned a = 0; a < nh; a++) {
		unsigned i = held[a];
		bool inside = false;

		for (unsigned b = 0; b < nh && !inside; b++) {
			unsigned k = held[b];

			inside = k != i && st->e[k].len > st->e[i].len &&
				 memmem(st->text + st->e[k].off, st->e[k].len,
					st->text + st->e[i].off, st->e[i].len) != NULL;
		}
		if (st->e[i].c && !inside)
			st->e[i].written = true;
	}
	st->prev_len = 0;                /* a signal handler's line in between */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(st->prev, p, own);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st->prev_len = (uint16_t)own;
}

const struct ctx *relay_line_ctx(const struct ctx *cur, const char *p, size_t n)
{
	struct relay_stash *st = agent_self.relay_stash;
	const struct ctx *c;

	if (st == NULL)
		return cur;
	c = line_ctx(st, cur, p, n);
	line_written(st, p, n);
	return c;
}

void relay_read_taken(void)
{
	struct relay_stash *st = agent_self.relay_stash;

	if (st)
		st->switches = agent_self.switches;
}

bool relay_read(struct chan *rx, const void *data, size_t dlen, size_t n, struct ctx **c)
{
	struct relay_ids ids;
	struct relay_stash *st = agent_self.relay_stash;
	uintptr_t key = relay_key(rx);
	enum relay_verdict v;

	if (!relaymap_has(key)) {
		/* A pipe with no records (a worker that wrote only through
		 * stdio, one beyond the table's 64, a pipe a child writes that
		 * is not its fd 1 or 2, a self-pipe): its lines may hold lines
		 * kept from the others, so until the next switch no line the
		 * thread writes names anybody through them. A channel that is
		 * no pipe (php-fpm's signal socketpair, read at each child's
		 * end) changes nothing. */
		if (st && rx->maker != 0) {
			if (st->switches != agent_self.switches)
				stash_new_turn(st);
			st->uncertain = true;
			st->switches = agent_self.switches;
		}
		return false;
	}
	if (st && st->switches != agent_self.switches)
		stash_new_turn(st);
	if (st == NULL) {
		st = mem_alloc(sizeof *st);
		if (st) {
			st->n = st->bytes = st->old = 0;
			st->piece_last = false;
			st->piece_key = 0;
			st->uncertain = false;
			st->clock = 0;
			st->turn = 0;
			st->prev_len = 0;
			for (unsigned i = 0; i < STASH_TAILS; i++)
				st->tails[i].key = 0;
			agent_self.relay_stash = st;
		}
	}
	/* without the stash (no memory) the read's own verdict is all a
	 * line gets (relay_line_ctx) */
	v = relaymap_read(key, data, dlen, n, &ids, st ? &st->read : NULL);
	if (v == RELAY_NONE)
		return false;                /* forgotten meanwhile */
	if (st && !stash_lines(st, key, data, &st->read)) {
		st->uncertain = true;
		tail_drop(st, key);          /* the read's open line may not be in it */
	}
	*c = v == RELAY_ONE ? ctx_of(&ids) : NULL;
	return true;
}

void relay_closing(struct fdslot *s)
{
	struct chan *rx = __atomic_load_n(&s->rx, __ATOMIC_ACQUIRE);

	/* php-fpm's workers close the read ends of their siblings' pipes
	 * they inherited: that is not the master's reader closing */
	if (rx && fdmap_kind(s) == FD_CHAN)
		relaymap_forget(relay_key(rx), rx->maker == agent_pid);
}
