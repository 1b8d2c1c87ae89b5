/*
 * ctx.c - context objects, their pool, and the current-context switch.
 *
 * The pool hands out fixed-size objects from slabs that are never freed, so
 * a pointer read from a slot always points at a context-shaped object even
 * if it was released meanwhile; ctx_tryget() detects that case. The pool
 * lock is taken only to create and to finally release a context, never on
 * the read/write path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/lock.h"
#include "base/ctx.h"
#include "base/debug.h"
#include "base/id.h"
#include "base/mem.h"

#define SLAB_COUNT 64

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctx *pool_free;
static long live;
int ctx_any;

static struct ctx *pool_take(void)
{
	struct ctx *c;

	agent_lock(&pool_lock);
	if (pool_free == NULL) {
		int saved = errno;     /* callers on the hot path rely on errno kept */
		struct ctx *slab = mem_alloc(SLAB_COUNT * sizeof *slab);

		errno = saved;
		if (slab == NULL) {
			pthread_mutex_unlock(&pool_lock);
			return NULL;
		}
		for (int i = 0; i < SLAB_COUNT; i++) {
			slab[i].next_free = pool_free;
			pool_free = &slab[i];
		}
	}
	c = pool_free;
	pool_free = c->next_free;
	live++;
	pthread_mutex_unlock(&pool_lock);
	return c;
}

static void pool_give(struct ctx *c)
{
	agent_lock(&pool_lock);
	c->next_free = pool_free;
	pool_free = c;
	live--;
	pthread_mutex_unlock(&pool_lock);
}

long ctx_live(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

static bool seed_has_id(const struct ctx_seed *seed)
{
	return seed && seed->id && seed->id_len > 0 && seed->id_len <= CTX_ID_MAX;
}

/* Whether the seed gives a field or `base` has one: most contexts carry
 * none (REQCTX_FIELDS unset), and their names copy none. */
static bool fields_given(const struct ctx_seed *seed, const struct ctx_name *base)
{
	uintptr_t any = 0;

	for (int i = 0; i < CTX_FIELDS; i++) {
		if (seed)
			any |= (uintptr_t)seed->field[i];
		if (base)
			any |= base->field_len[i];
	}
	return any != 0;
}

/* Fills a name from the seed; what the seed lacks comes from `base`, or is
 * generated without one. */
struct ctx_sampling ctx_sampling = { true, UINT64_MAX };

uint8_t ctx_sample(const char *trace_id)
{
	uint64_t low = 0;

	if (ctx_sampling.root_bound == UINT64_MAX)
		return 1;
	for (int i = 16; i < 32; i++) {
		char ch = trace_id[i];

		low = low << 4 | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
	}
	return (low & INT64_MAX) < ctx_sampling.root_bound;
}

/* The name's own copy of tracestate ts[0..len) (none when NULL, empty or
 * out of memory: then the trace goes on without it). */
static void name_tracestate(struct ctx_name *n, const char *ts, size_t len)
{
	char *copy = ts && len && len <= UINT16_MAX - 1 ? mem_alloc(len + 1) : NULL;

	n->tracestate = NULL;
	n->tracestate_len = 0;
	if (copy == NULL)
		return;
	memcpy(copy, ts, len);
	copy[len] = '\0';
	n->tracestate = copy;
	n->tracestate_len = (uint16_t)len;
}

/* Gives back the names' tracestate copies (the context is no one's). */
static void names_release(struct ctx *c)
{
	for (int i = 0; i < 2; i++)
		if (c->names[i].tracestate) {
			mem_free((void *)c->names[i].tracestate, c->names[i].tracestate_len + 1u);
			c->names[i].tracestate = NULL;
			c->names[i].tracestate_len = 0;
		}
}

static void name_fill(struct ctx_name *n, const struct ctx_seed *seed, const struct ctx_name *base)
{
	if (seed_has_id(seed)) {
		memcpy(n->id, seed->id, seed->id_len);
		n->id_len = (uint8_t)seed->id_len;
		n->origin = CTX_ADOPTED;
	} else if (base) {
		memcpy(n->id, base->id, base->id_len);
		n->id_len = base->id_len;
		n->origin = base->origin;
	} else {
		id_request(n->id);
		n->id_len = ID_REQUEST_LEN;
		n->origin = CTX_GENERATED;
	}
	n->id[n->id_len] = '\0';
	if (seed && seed->trace_id) {
		memcpy(n->trace_id, seed->trace_id, 32);
		/* the flags W3C Trace Context defines (sampled; random, in its
		 * level 2): a vendor sets the others to zero (3.2.2.5) */
		n->trace_flags = seed->trace_flags & 0x03;
		if (!ctx_sampling.parent_based)
			n->trace_flags = (uint8_t)((n->trace_flags & ~1u) | ctx_sample(seed->trace_id));
	} else if (base) {
		memcpy(n->trace_id, base->trace_id, 32);
		n->trace_flags = base->trace_flags;
	} else {
		id_trace(n->trace_id);
		n->trace_flags = ctx_sample(n->trace_id);
	}
	n->trace_id[32] = '\0';
	name_tracestate(n, seed && seed->trace_id ? seed->tracestate : base ? base->tracestate : NULL,
			seed && seed->trace_id ? seed->tracestate_len : base ? base->tracestate_len : 0);
	n->parent_id[0] = '\0';
	if (seed && seed->trace_id && seed->parent_id) {
		memcpy(n->parent_id, seed->parent_id, 16);
		n->parent_id[16] = '\0';
	} else if (base && !(seed && seed->trace_id)) {
		memcpy(n->parent_id, base->parent_id, sizeof n->parent_id);
	}
	if (!fields_given(seed, base)) {
		memset(n->field_len, 0, sizeof n->field_len);
		for (int i = 0; i < CTX_FIELDS; i++)
			n->field[i][0] = '\0';
		return;
	}
	for (int i = 0; i < CTX_FIELDS; i++) {
		size_t len = seed && seed->field[i] ? seed->field_len[i] : 0;

		if (len > CTX_FIELD_MAX)
			len = CTX_FIELD_MAX;
		if (len)
			memcpy(n->field[i], seed->field[i], len);
		else if (base && base->field_len[i])
			memcpy(n->field[i], base->field[i], (len = base->field_len[i]));
		n->field[i][len] = '\0';
		n->field_len[i] = (uint8_t)len;
	}
}

AGENT_HIDDEN unsigned long ctx_begun;

struct ctx *ctx_new(const struct ctx_seed *seed)
{
	struct ctx *c = pool_take();

	if (c == NULL)
		return NULL;
	name_fill(&c->names[0], seed, NULL);
	__atomic_store_n(&c->name, &c->names[0], __ATOMIC_RELAXED);
	if (seed && seed->span_id) {
		memcpy(c->span_id, seed->span_id, 16);
		c->span_id[16] = '\0';
	} else {
		id_span(c->span_id);
	}
	c->peer[0] = '\0';
	if (seed && seed->peer) {
		size_t n = strnlen(seed->peer, sizeof c->peer - 1);

		memcpy(c->peer, seed->peer, n);
		c->peer[n] = '\0';
	}
	c->conn_fd = -1;
	c->session = 0;
	c->dgram_peer_len = 0;
	c->next_free = NULL;
	__atomic_store_n(&c->refs, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&ctx_begun, 1, __ATOMIC_RELAXED);
	if (!ctx_seen())
		__atomic_store_n(&ctx_any, 1, __ATOMIC_RELAXED);
	return c;
}

bool ctx_adopt(struct ctx *c, const struct ctx_seed *seed)
{
	const struct ctx_name *expect = &c->names[0];

	if (ctx_name(c) != expect)
		return false;
	/* names[1] is unused until published: whoever reads the name sees
	 * either the first one whole or this one whole. The caller is the one
	 * thread that took the connection's fresh mark, so there is one
	 * writer; the compare-exchange keeps a second one out anyway. */
	name_fill(&c->names[1], seed, expect);
	return __atomic_compare_exchange_n(&c->name, &expect, &c->names[1], false,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

bool ctx_tryget(struct ctx *c)
{
	unsigned n = __atomic_load_n(&c->refs, __ATOMIC_RELAXED);

	while (n != 0) {
		if (__atomic_compare_exchange_n(&c->refs, &n, n + 1, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

void ctx_put(struct ctx *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		DEBUG("end %s", ctx_name(c)->id);
		names_release(c);
		pool_give(c);
	}
}

void ctx_take_current(struct ctx *c)
{
	struct ctx *old = agent_self.cur;

	agent_self.cur = c;
	agent_self.switches++;
	ctx_forget_marks();
	ctx_put(old);
}

struct ctx *ctx_enter_pinned(struct ctx *c)
{
	struct ctx *prev = agent_self.cur;      /* its reference goes to the caller */
	unsigned depth = agent_self.pin_depth;
	const unsigned max = sizeof agent_self.pin_saved / sizeof agent_self.pin_saved[0];

	if (depth == max) {     /* the oldest goes: its leave is as any other */
		memmove(agent_self.pin_saved, agent_self.pin_saved + 1,
			(max - 1) * sizeof agent_self.pin_saved[0]);
		depth--;
	}
	ctx_marks_save(&agent_self.pin_saved[depth]);
	if (c != prev)
		DEBUG("switch %s -> %s (entered through the API, pinned)",
		      prev ? ctx_name(prev)->id : "none", c ? ctx_name(c)->id : "none");
	if (c)
		ctx_get(c);
	agent_self.cur = c;
	agent_self.switches++;
	ctx_forget_marks();
	agent_self.pinned = c;
	agent_self.pin_inherited = false;
	agent_self.entered_none = c == NULL;
	agent_self.pin_depth = (unsigned char)(depth + 1);
	return prev;
}

void ctx_leave(struct ctx *prev)
{
	unsigned depth = agent_self.pin_depth;
	struct ctx *old;

	if (depth == 0 || agent_self.pin_saved[depth - 1].prev != prev) {
		ctx_take_current(prev);
		return;
	}
	/* ctx_take_current(), with the marks restored in place of cleared */
	old = agent_self.cur;
	agent_self.cur = prev;
	agent_self.switches++;
	ctx_marks_restore(&agent_self.pin_saved[depth - 1]);
	agent_self.pin_depth = (unsigned char)(depth - 1);
	ctx_put(old);
}

struct ctx *ctx_enter_inherited(struct ctx *c)
{
	struct ctx *prev = ctx_enter_pinned(c);

	agent_self.pin_inherited = c != NULL;
	agent_self.inherit_begun = ctx_begun_mark();
	return prev;
}

void ctx_format_peer(char *dst, size_t cap, const struct sockaddr *sa, socklen_t len)
{
	char a[INET6_ADDRSTRLEN];

	dst[0] = '\0';
	if (sa == NULL || len < sizeof(sa_family_t))
		return;
	/* The address and port are what a buffer must hold, not the
	 * structure's padding after them. */
	if (sa->sa_family == AF_INET &&
	    len >= offsetof(struct sockaddr_in, sin_addr) + sizeof(struct in_addr)) {
		const struct sockaddr_in *in = (const void *)sa;

		if (inet_ntop(AF_INET, &in->sin_addr, a, sizeof a))
			snprintf(dst, cap, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6 &&
		   len >= offsetof(struct sockaddr_in6, sin6_addr) + sizeof(struct in6_addr)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a))
			snprintf(dst, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(dst, cap, "unix");
	}
}

LOCK_FORK_DEFINE(ctx, pool_lock)
