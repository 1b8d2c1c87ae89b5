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

/* Pipes this process (or a forked ancestor) made, with the pid that made
 * them: only a forked child's writes into its parent's pipe are relayed.
 * A process that reads its own stderr pipe, or a reader outside the agent
 * that a process made the pipe for, gets prefixed lines as before. */
#define MADE_MAX 128
static struct { const struct chan *chan; pid_t pid; } made[MADE_MAX];
static unsigned made_next;
static int made_lock;

void relay_pipe_made(const struct chan *c)
{
	pid_t pid = agent_pid;          /* no system call in the host's pipe() */

	relaymap_init();
	spin_lock(&made_lock);
	made[made_next % MADE_MAX].chan = c;
	made[made_next % MADE_MAX].pid = pid;
	made_next++;
	spin_unlock(&made_lock);
}

/* True when `c` was made by another process than this one (a parent). */
static bool made_by_parent(const struct chan *c)
{
	pid_t creator = 0, self;

	spin_lock(&made_lock);
	for (unsigned i = 0; i < MADE_MAX; i++)
		if (made[i].chan == c)
			creator = made[i].pid;
	spin_unlock(&made_lock);
	if (creator == 0)
		return false;
	self = agent_pid;                /* updated in every copy (agent/fork.c) */
	return creator != self;
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

bool relay_dup(int from, int to)
{
	struct fdslot *src = fdmap_peek(from), *dst;

	if ((to != 1 && to != 2) || src == NULL || fdmap_kind(src) != FD_CHAN ||
	    src->tx == NULL || src->rx != NULL)
		return false;
	if (!made_by_parent(src->tx))
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
	relaymap_wrote((uintptr_t)__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE), agent_self.cur, data, n);
}

void relay_write_done(struct fdslot *s, size_t n, ssize_t r)
{
	relaymap_unwrote((uintptr_t)__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE), n, (long)r);
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
 * The whole lines the reading thread took from relayed pipes since it last
 * waited, each with the request that wrote it (a reference): a line the
 * thread writes that holds one of them is about it (php-fpm's master reads
 * a worker's pipe and writes each line it took into "child N said into
 * stderr: ..."; one read may hold lines of two requests the worker served
 * one after the other, and the master may read again before it writes the
 * lines of the first read). Agent memory, one per thread that reads a
 * relayed pipe; emptied when the thread waits (flow_wait_begins).
 */
#define STASH_LINES 32
#define STASH_BYTES 4096
#define STASH_MIN 8          /* shorter lines recur too easily to name anything */
struct relay_stash {
	unsigned n, bytes;
	struct { struct ctx *c; uint16_t off, len; bool used; } e[STASH_LINES];
	char text[STASH_BYTES];
};

void relay_stash_clear(void)
{
	struct relay_stash *st = agent_self.relay_stash;

	if (st == NULL)
		return;
	for (unsigned i = 0; i < st->n; i++)
		ctx_put(st->e[i].c);
	st->n = st->bytes = 0;
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

/* Room for a line of `len` bytes: used entries go first, then the oldest. */
static bool stash_room(struct relay_stash *st, size_t len)
{
	unsigned k = 0, bytes = 0;

	if (st->n < STASH_LINES && st->bytes + len <= STASH_BYTES)
		return true;
	for (unsigned pass = 0; pass < 2; pass++) {
		k = bytes = 0;
		for (unsigned i = 0; i < st->n; i++) {
			bool drop = pass == 0 ? st->e[i].used : i < st->n / 2 + 1;

			if (drop) {
				ctx_put(st->e[i].c);
				continue;
			}
			memmove(st->text + bytes, st->text + st->e[i].off, st->e[i].len);
			st->e[k] = st->e[i];
			st->e[k].off = (uint16_t)bytes;
			bytes += st->e[k].len;
			k++;
		}
		st->n = k;
		st->bytes = bytes;
		if (st->n < STASH_LINES && st->bytes + len <= STASH_BYTES)
			return true;
	}
	return false;
}

static void stash_lines(const unsigned char *b, struct relay_lines *lines)
{
	struct relay_stash *st = agent_self.relay_stash;
	struct ctx *who[RELAY_WHO_MAX] = { NULL };
	bool tried[RELAY_WHO_MAX] = { false };

	if (st == NULL) {
		st = mem_alloc(sizeof *st);
		if (st == NULL)
			return;
		st->n = st->bytes = 0;
		agent_self.relay_stash = st;
	}
	for (unsigned i = 0; i < lines->n; i++) {
		size_t len = lines->line[i].len - 1;            /* without its '\n' */
		unsigned w = lines->line[i].who;

		if (len < STASH_MIN || len > STASH_BYTES / 4)
			continue;
		if (!tried[w]) {
			who[w] = ctx_of(&lines->ids[w]);
			tried[w] = true;
		}
		if (who[w] == NULL || !stash_room(st, len))
			continue;
		memcpy(st->text + st->bytes, b + lines->line[i].off, len);
		ctx_get(who[w]);
		st->e[st->n].c = who[w];
		st->e[st->n].off = (uint16_t)st->bytes;
		st->e[st->n].len = (uint16_t)len;
		st->e[st->n].used = false;
		st->bytes += (unsigned)len;
		st->n++;
	}
	for (unsigned w = 0; w < RELAY_WHO_MAX; w++)
		if (who[w])
			ctx_put(who[w]);
}

static bool same_request(const struct ctx *a, const struct ctx *b)
{
	const struct ctx_name *x = ctx_name(a), *y = ctx_name(b);

	return x->id_len == y->id_len && memcmp(x->id, y->id, x->id_len) == 0;
}

const struct ctx *relay_line_ctx(const struct ctx *cur, const char *p, size_t n)
{
	struct relay_stash *st = agent_self.relay_stash;
	const struct ctx *found = NULL;
	uint32_t hit = 0;

	if (st == NULL)
		return cur;
	for (unsigned i = 0; i < st->n; i++) {
		if (st->e[i].used || st->e[i].len > n ||
		    memmem(p, n, st->text + st->e[i].off, st->e[i].len) == NULL)
			continue;
		if (found && !same_request(found, st->e[i].c)) {
			DEBUG("relayed line holds lines of two requests");
			return NULL;             /* the line holds two requests' lines */
		}
		found = st->e[i].c;
		hit |= 1u << i;
	}
	if (found == NULL)
		return cur;
	for (unsigned i = 0; i < st->n; i++)
		if (hit & (1u << i))
			st->e[i].used = true;
	return found;
}

bool relay_read(struct chan *rx, const void *data, size_t dlen, size_t n, struct ctx **c)
{
	struct relay_ids ids;
	struct relay_lines lines;
	enum relay_verdict v = relaymap_read((uintptr_t)rx, data, dlen, n, &ids, &lines);

	if (v == RELAY_NONE)
		return false;
	if (lines.n)
		stash_lines(data, &lines);
	*c = v == RELAY_ONE ? ctx_of(&ids) : NULL;
	return true;
}

void relay_closing(struct fdslot *s)
{
	struct chan *rx = __atomic_load_n(&s->rx, __ATOMIC_ACQUIRE);

	if (rx && fdmap_kind(s) == FD_CHAN)
		relaymap_forget((uintptr_t)rx);
}
