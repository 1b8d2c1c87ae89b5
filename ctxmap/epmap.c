/*
 * epmap.c - epoll registrations, one uthash table per instance, reached
 * through the instance's fd slot. One mutex guards all tables: it is taken
 * by epoll_ctl, by close of a registered fd and by an epoll_wait batch with
 * an event whose fd cannot be found from its data without it (an fd
 * registered under its own number is found through its slot), never per
 * read or write. uthash stays inside this file.
 *
 * Rule: memory is the agent's own (base/mem.h), never the host's
 * allocator, which may wait for a thread that waits for this lock.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include "ctxmap/uthash_agent.h"   /* the agent's memory, 8-byte keys */

#include "base/lock.h"
#include "ctxmap/epmap.h"
#include "ctxmap/fdmap.h"

/* The fds one data value stands for when it is several (fd -1), so that
 * the value goes when the last of them does: beyond this many it stays
 * until the instance does. */
#define EPREG_MEMBERS 4

struct epreg {
	uint64_t data;            /* key */
	int fd;                   /* -1: several fds registered with this data */
	int nmembers;             /* with fd -1: how many of member[] are set;
	                             -1 when they were too many to keep */
	int member[EPREG_MEMBERS];
	uint32_t events;          /* the registration's mask (of its last fd) */
	uint64_t gen;
	UT_hash_handle hh;
};

struct eptable {
	int epfd;
	struct epreg *regs;
	struct eptable *next, *prev;   /* all tables, for the rare scans */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct eptable *tables;
static uint64_t generation = 1;
static long nregs;
static uint64_t bump(void)
{
	return __atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
}

/* A registration of `epfd` changed: its buffered events must be checked. */
static void touch(int epfd)
{
	struct fdslot *s = fdmap_peek(epfd);

	if (s)
		__atomic_store_n(&s->ep_gen, bump(), __ATOMIC_RELEASE);
}

uint64_t epmap_generation(int epfd)
{
	struct fdslot *s = fdmap_peek(epfd);

	return s ? epmap_slot_generation(s) : 0;
}


long epmap_count(void)
{
	return __atomic_load_n(&nregs, __ATOMIC_RELAXED);
}

static struct eptable *table_of(int epfd)
{
	struct fdslot *s = fdmap_peek(epfd);

	return s && fdmap_kind(s) == FD_EPOLL ? s->ep_table : NULL;
}

static void del_reg(struct eptable *t, struct epreg *r)
{
	struct fdslot *s = r->fd >= 0 ? fdmap_peek(r->fd) : NULL;

	if (s && s->ep_state == 1 && s->ep_epfd == t->epfd && s->ep_data == r->data)
		__atomic_store_n(&s->ep_state, 0, __ATOMIC_RELAXED);
	HASH_DEL(t->regs, r);
	mem_free(r, sizeof *r);
	nregs--;
}

static void clear_table(struct eptable *t)
{
	struct epreg *r, *tmp;

	HASH_ITER(hh, t->regs, r, tmp)
		del_reg(t, r);
}

void epmap_instance(int epfd)
{
	struct fdslot *s = fdmap_slot(epfd);
	struct eptable *t;

	if (s == NULL)
		return;
	agent_lock(&lock);
	t = s->ep_table;
	if (t == NULL) {
		t = mem_alloc(sizeof *t);
		if (t) {
			t->next = tables;
			if (tables)
				tables->prev = t;
			tables = t;
		}
	} else {
		clear_table(t);
	}
	if (t)
		t->epfd = epfd;
	s->ep_table = t;
	touch(epfd);
	pthread_mutex_unlock(&lock);
}

void epmap_drop_instance(int epfd)
{
	struct fdslot *s = fdmap_peek(epfd);
	struct eptable *t;

	if (s == NULL || s->ep_table == NULL)
		return;
	agent_lock(&lock);
	t = s->ep_table;
	s->ep_table = NULL;
	if (t) {
		clear_table(t);
		if (t->prev)
			t->prev->next = t->next;
		else
			tables = t->next;
		if (t->next)
			t->next->prev = t->prev;
		mem_free(t, sizeof *t);
	}
	touch(epfd);
	pthread_mutex_unlock(&lock);
}

/* Where `fd` is among the fds of a data value several share, or -1. */
static int member_at(const struct epreg *r, int fd)
{
	for (int i = 0; i < r->nmembers; i++)
		if (r->member[i] == fd)
			return i;
	return -1;
}

/* `fd` shares data value `r`: kept among its members (its slot then
 * sends find_fd() to the scan, where the members are looked at). */
static void add_member(struct epreg *r, int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	if (r->nmembers < 0 || member_at(r, fd) >= 0)
		return;
	if (r->nmembers == EPREG_MEMBERS) {
		r->nmembers = -1;
		return;
	}
	r->member[r->nmembers++] = fd;
	if (s && s->ep_state == 0)
		__atomic_store_n(&s->ep_state, 2, __ATOMIC_RELAXED);
}

static void del_reg(struct eptable *t, struct epreg *r);

/* `fd`'s registration `r` is gone (deleted, modified, its fd closed). A
 * data value several fds share goes with the last of them: until then an
 * event of it may be any remaining one's, so it stays as it was (a trial:
 * two fds behind one handler, both deleted, and the events kept for them
 * were still handed out). */
static void drop_fd(struct eptable *t, struct epreg *r, int fd)
{
	int i;

	if (r->fd == -1 && (i = member_at(r, fd)) >= 0) {
		r->member[i] = r->member[--r->nmembers];
		if (r->nmembers > 0)
			return;
	}
	del_reg(t, r);
}

/* The registration of `fd` in `t`, using the fd's back-reference first. */
static struct epreg *find_fd(struct eptable *t, int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	struct epreg *r, *tmp;

	if (s && s->ep_state == 1) {
		if (s->ep_epfd != t->epfd)
			return NULL;
		HASH_FIND(hh, t->regs, &s->ep_data, sizeof(uint64_t), r);
		if (r && r->fd == fd)
			return r;
	}
	if (s && s->ep_state == 0)
		return NULL;
	HASH_ITER(hh, t->regs, r, tmp)
		if (r->fd == fd || (r->fd == -1 && member_at(r, fd) >= 0))
			return r;
	return NULL;
}

static void add_reg(struct eptable *t, int fd, uint64_t data, uint32_t events)
{
	struct fdslot *s = fdmap_slot(fd);
	struct epreg *r;

	HASH_FIND(hh, t->regs, &data, sizeof data, r);
	if (r) {
		/* Two fds behind one data value: events cannot be told apart. */
		if (r->fd != fd) {
			struct fdslot *o = r->fd >= 0 ? fdmap_peek(r->fd) : NULL;

			if (o && o->ep_state == 1)   /* its back-reference names no one fd now */
				__atomic_store_n(&o->ep_state, 2, __ATOMIC_RELAXED);
			if (r->fd >= 0) {
				r->nmembers = 0;
				add_member(r, r->fd);
			}
			r->fd = -1;
			add_member(r, fd);
		}
		r->events = events;
		r->gen = bump();
		return;
	}
	r = mem_alloc(sizeof *r);
	if (r == NULL)
		return;
	r->data = data;
	r->fd = fd;
	r->nmembers = 0;
	r->events = events;
	r->gen = bump();
	HASH_ADD(hh, t->regs, data, sizeof(uint64_t), r);
	nregs++;
	if (s) {
		if (s->ep_state == 0) {
			__atomic_store_n(&s->ep_epfd, t->epfd, __ATOMIC_RELAXED);
			__atomic_store_n(&s->ep_data, data, __ATOMIC_RELAXED);
			__atomic_store_n(&s->ep_reg_gen, r->gen, __ATOMIC_RELAXED);
			__atomic_store_n(&s->ep_state, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_store_n(&s->ep_state, 2, __ATOMIC_RELAXED);
		}
	}
}

void epmap_ctl(int epfd, int op, int fd, uint64_t data, uint32_t events)
{
	struct eptable *t;
	struct epreg *r;

	agent_lock(&lock);
	t = table_of(epfd);
	if (t == NULL) {
		pthread_mutex_unlock(&lock);
		return;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		add_reg(t, fd, data, events);
		break;
	case EPOLL_CTL_MOD:
		r = find_fd(t, fd);
		if (r)
			drop_fd(t, r, fd);
		add_reg(t, fd, data, events);
		break;
	case EPOLL_CTL_DEL:
		r = find_fd(t, fd);
		if (r)
			drop_fd(t, r, fd);
		break;
	}
	touch(epfd);
	pthread_mutex_unlock(&lock);
}

void epmap_forget_fd(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	struct eptable *t;
	struct epreg *r;

	if (s == NULL || __atomic_load_n(&s->ep_state, __ATOMIC_RELAXED) == 0)
		return;
	agent_lock(&lock);
	if (s->ep_state == 1) {
		t = table_of(s->ep_epfd);
		if (t && (r = find_fd(t, fd)) != NULL) {
			drop_fd(t, r, fd);
			touch(t->epfd);
		}
	} else {
		for (t = tables; t; t = t->next)
			while ((r = find_fd(t, fd)) != NULL) {
				drop_fd(t, r, fd);
				touch(t->epfd);
			}
	}
	__atomic_store_n(&s->ep_state, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock);
}

bool epmap_registration(int epfd, uint64_t data, int *fd, uint64_t *gen, uint32_t *events)
{
	struct eptable *t;
	struct epreg *r = NULL;

	agent_lock(&lock);
	t = table_of(epfd);
	if (t)
		HASH_FIND(hh, t->regs, &data, sizeof data, r);
	if (r) {
		*fd = r->fd;
		*gen = r->gen;
		*events = r->events;
	}
	pthread_mutex_unlock(&lock);
	return r != NULL;
}

bool epmap_lookup(int epfd, uint64_t data, int *fd, uint64_t *gen)
{
	uint32_t events;

	return epmap_registration(epfd, data, fd, gen, &events);
}

/* The quick answer for one event: programs that register an fd with its
 * own number as the data (data.fd: libevent, libuv, Redis) are resolved
 * from the fd's back-reference, without the lock. The caller read the
 * instance's generation before (dispatch.c): a registration changed
 * meanwhile changes it, and the event is then looked up again under the
 * lock before it is handed out. */
static bool resolve_quick(int epfd, uint64_t data, int *fd, uint64_t *gen)
{
	int cand = (int)(uint32_t)data;
	struct fdslot *s = cand >= 0 ? fdmap_peek(cand) : NULL;

	if (s == NULL || __atomic_load_n(&s->ep_state, __ATOMIC_RELAXED) != 1 ||
	    __atomic_load_n(&s->ep_epfd, __ATOMIC_RELAXED) != epfd ||
	    __atomic_load_n(&s->ep_data, __ATOMIC_RELAXED) != data)
		return false;
	*gen = __atomic_load_n(&s->ep_reg_gen, __ATOMIC_RELAXED);
	*fd = cand;
	return true;
}

void epmap_resolve(int epfd, int n, const struct epoll_event *ev, int *fds,
		   uint64_t *gens)
{
	struct eptable *t;
	int left = 0;

	for (int i = 0; i < n; i++)
		if (!resolve_quick(epfd, ev[i].data.u64, &fds[i], &gens[i])) {
			fds[i] = INT_MIN;       /* for the locked pass */
			left++;
		}
	if (left == 0)
		return;
	agent_lock(&lock);
	t = table_of(epfd);
	for (int i = 0; i < n; i++) {
		struct epreg *r = NULL;
		uint64_t data = ev[i].data.u64;

		if (fds[i] != INT_MIN)
			continue;
		if (t)
			HASH_FIND(hh, t->regs, &data, sizeof data, r);
		fds[i] = r ? r->fd : -2;
		gens[i] = r ? r->gen : 0;
	}
	pthread_mutex_unlock(&lock);
}

bool epmap_any(int epfd, bool (*pred)(int fd, const void *arg), const void *arg)
{
	struct eptable *t;
	struct epreg *r, *tmp;
	bool any = false;

	agent_lock(&lock);
	t = table_of(epfd);
	if (t == NULL)
		any = true;
	else
		HASH_ITER(hh, t->regs, r, tmp) {
			/* -1: several fds share the data value: any of them */
			if (r->fd < 0 || pred(r->fd, arg)) {
				any = true;
				break;
			}
		}
	pthread_mutex_unlock(&lock);
	return any;
}


void epmap_fork_prepare(void)
{
	agent_lock(&lock);
}

void epmap_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

/* The child has only the thread that forked: a call another thread had
 * under way is not, and would otherwise count as under way for good. */
void epmap_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	for (struct eptable *t = tables; t; t = t->next) {
		struct fdslot *s = fdmap_peek(t->epfd);

		if (s)
			__atomic_store_n(&s->ep_busy, 0, __ATOMIC_RELAXED);
	}
}
