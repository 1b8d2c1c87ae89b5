/*
 * relay.c - the rules of relay.h over ctxmap/relay.c's records. Must never
 * change a byte written into the pipe, nor give the reader a request the
 * records do not prove (see ctxmap/relay.c: one request, hashes checked).
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/relay.h"
#include "base/debug.h"
#include "base/lock.h"
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

bool relay_read(struct chan *rx, const void *data, size_t dlen, size_t n, struct ctx **c)
{
	struct relay_ids ids;
	struct ctx_seed seed = { 0 };

	switch (relaymap_read((uintptr_t)rx, data, dlen, n, &ids)) {
	case RELAY_NONE:
		return false;
	case RELAY_NOBODY:
		*c = NULL;
		return true;
	default:
		break;
	}
	/* The table is shared memory: what it says is checked like a header. */
	if (!http_valid_id(ids.id, ids.id_len)) {
		*c = NULL;
		return true;
	}
	for (int i = 0; ids.has_trace && i < 32; i++)
		if (!((ids.trace_id[i] >= '0' && ids.trace_id[i] <= '9') ||
		      (ids.trace_id[i] >= 'a' && ids.trace_id[i] <= 'f')))
			ids.has_trace = false;
	seed.id = ids.id;
	seed.id_len = ids.id_len;
	if (ids.has_trace) {
		seed.trace_id = ids.trace_id;
		seed.trace_flags = ids.trace_flags;
	}
	*c = ctx_new(&seed);
	return true;
}

void relay_closing(struct fdslot *s)
{
	struct chan *rx = __atomic_load_n(&s->rx, __ATOMIC_ACQUIRE);

	if (rx && fdmap_kind(s) == FD_CHAN)
		relaymap_forget((uintptr_t)rx);
}
