/*
 * out.c - line assembly and the tagged write.
 *
 * Per thread: the bytes of an unfinished line (already counted as written
 * to the program) in `held`, and whether the current line's head is out.
 * A write is made in rounds: plan() lays out pieces - held bytes, heads,
 * the program's bytes (or their JSON escapes) - and decides whether the
 * unfinished end is to be held; one system call of the host's own kind
 * under the output lock sends them; settle() accounts for what the kernel
 * took; hold() keeps the unfinished end. The output lock keeps one thread's
 * line from being cut by another's, even past PIPE_BUF.
 *
 * Must never: allocate from anything but memory already mapped (a thread's
 * scratch, taken when it starts; scratch_late), call an interposed function
 * by name, make a system call other than the host's write/writev, or wait
 * on a lock when called from a signal handler.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/probe.h"
#include "agent/buffered.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "agent/format.h"
#include "agent/out.h"
#include "agent/out_fd.h"
#include "agent/out_stream.h"
#include "agent/relay.h"
#include "base/real.h"

/* The request a line starting with p[0, n) is about: none on an event loop
 * no bridge vouches for, or while the current context does not vouch for
 * lines (agent_self.muted: after a signal once the request's connection
 * was closed, or the close of a connection that carried nothing); a whole
 * line the thread took from a relayed pipe when the line holds one
 * (agent/relay.h); else the current one. */
static inline const struct ctx *line_ctx(const char *p, size_t n)
{
	const struct ctx *c = ctx_carried();

	if (unlikely(agent_self.relay_stash != NULL))
		c = relay_line_ctx(c, p, n);
	return c;
}

static AGENT_TLS bool writing_stdio;   /* out_write_all: the thread's own text */

#define OUT_PIECES 128
/* The longest head kept for the next line (head_of): the default's is
 * about 20 bytes, the request ID is at most CTX_ID_MAX. */
#define OUT_KEPT_HEAD 160
/* Exit paths wait this many rounds at most for a lock or another thread's
 * state (a few milliseconds), then go on without. */
#define OUT_EXIT_SPINS (1 << 18)
/* A redirect or close of an fd others write waits this many (tens of
 * microseconds: BRIEF). */
#define OUT_BRIEF_SPINS (1 << 10)

struct out_scratch;

struct out_state {
	struct out_state *next, *prev;
	struct out_scratch *scratch; /* the held line, the stage, the escapes and a
				       write's plan and head, in the agent's memory
				       (out_thread_starts, scratch_late); NULL: none,
				       and then len is 0 and no JSON line is open */
	int busy;                 /* atomic: the owner or a flusher works on it */
	bool registered;
	bool ready;               /* registered, with its scratch: out_write's one test */
	bool gone;                /* the thread is exiting: write straight through */
	bool line_open;           /* the current line's head is out (or held) */
	bool raw_open;            /* JSON: the line on fd began untagged
				     (pass_held_first): its rest goes so too */
	bool cut;                 /* JSON: the line on fd was closed before its
				     end, as the thread was about to wait
				     (out_flush_thread), or by a round that
				     sent it unfinished (P_CLOSE); a lone newline that
				     ends it next writes nothing more */
	uint8_t call;             /* enum out_call: how held bytes go out */
	int fd;                   /* where the held bytes go */
	int ended_fd;             /* the fd whose open text line the last
				     out_flush_fd ended (-1: none): a failed
				     redirect opens it again. Under reg_mutex */
	size_t len;               /* held bytes (scratch->held) */
	/* JSON mode: the held unfinished line (head and escapes from held +
	 * obj_at) may be one JSON object of the program's; its raw bytes so
	 * far (scratch->obj), to merge it with ours if it ends as one (plan(),
	 * hold()). */
	bool obj_live;
	size_t obj_at, obj_head_len, obj_len;
	struct fmt_obj scan;
	/* The head of the last line written in text output, for the next
	 * line of the same context (head_of). */
	const struct ctx *kept_ctx;
	const struct ctx_name *kept_name;
	uint64_t kept_span[2];
	pid_t kept_pid;
	uint8_t kept_len;
	char kept_head[OUT_KEPT_HEAD];
};

/* Whether a line's head may be kept for the next line (head_of): in text
 * output, with no thread ID in REQCTX_FORMAT (a vfork child writes on its
 * parent's thread state). Set once the configuration is read (out_init). */
static bool head_keepable;

/*
 * The head of a line of context c, rendered into text (cap bytes) or, when
 * this thread's last line had the same head, taken from st: returns where
 * the head is (text or st->kept_head) and its length in *len. In text
 * output a head is made of c's name and span ID, the process ID and the
 * format only (agent/format.c). A context comes back from the pool at the
 * same address, but its span ID comes from a counter that never repeats
 * in a process (base/id.c), so the pointer, the name and the span ID
 * together stand for one context's life; the process ID for a child made
 * by fork. st is claimed: a signal handler's line never gets here
 * (in_signal_handler) and cannot find the copy half made.
 */
static __attribute__((noinline)) const char *head_made(struct out_state *st, const struct ctx *c,
							const struct ctx_name *n, const uint64_t span[2],
							char *text, size_t cap, size_t *len)
{
	*len = fmt_head(text, cap, agent_config, c);
	if (n && *len <= sizeof st->kept_head) {
		memcpy(st->kept_head, text, *len);
		st->kept_len = (uint8_t)*len;
		st->kept_ctx = c;
		st->kept_name = n;
		st->kept_span[0] = span[0];
		st->kept_span[1] = span[1];
		st->kept_pid = agent_pid;
	}
	return text;
}

static inline const char *head_of(struct out_state *st, const struct ctx *c, char *text, size_t cap,
				  size_t *len)
{
	const struct ctx_name *n;
	uint64_t span[2];

	if (c == NULL || !head_keepable)
		return head_made(st, c, NULL, NULL, text, cap, len);
	n = ctx_name(c);        /* before fmt_head: a rename only makes a miss */
	memcpy(span, c->span_id, sizeof span);
	if (likely(c == st->kept_ctx && n == st->kept_name && span[0] == st->kept_span[0] &&
		   span[1] == st->kept_span[1] && st->kept_pid == agent_pid)) {
		*len = st->kept_len;
		return st->kept_head;
	}
	return head_made(st, c, n, span, text, cap, len);
}

/* The head of a line starting at p[0, n) on fd (`whole`: all of the
 * write), as head_of() gives it: that of line_ctx(), or, for a line a
 * thread put into a runtime's buffer that this thread writes out, that
 * thread's (agent/buffered.h). Text of a stdio call is the thread's own:
 * no runtime's buffer holds it. */
static const char *line_head(struct out_state *st, char *text, size_t cap, const char *p, size_t n,
			     bool whole, size_t *len)
{
	struct ctx *put;
	const char *h;

	if (likely(!__atomic_load_n(&buffered_live, __ATOMIC_RELAXED)) || writing_stdio ||
	    agent_self.relay_stash != NULL || !buffered_take(st->fd, p, n, whole, &put))
		return head_of(st, line_ctx(p, n), text, cap, len);
	h = head_of(st, put, text, cap, len);
	ctx_put(put);
	return h;
}


enum piece_kind {
	P_HELD,     /* bytes already counted to the program */
	P_HEAD,     /* ours: counts nothing */
	P_RAW,      /* the program's own bytes, counted as far as written */
	P_ATOM,     /* an escape standing for `app` program bytes: all or hold */
	P_CLOSE,    /* ours, all or hold: the end of a JSON line's object a
		       round sends unfinished (plan; st->cut) */
};

struct piece {
	const char *p;
	size_t len, app;
	uint8_t kind;
	bool open_after;          /* line_open once this piece is fully out */
};

/* A position in the program's iovec array. */
struct pos {
	int vi;
	size_t off;
};

/* The head of the line being started, rendered once per write. */
struct head {
	char text[FMT_HEAD_MAX];
	size_t len;
	bool ready;
	bool per_line;            /* a head for each line (agent/buffered.h) */
};

/* One round of a write: what goes out now, and what is held after. */
struct plan {
	struct piece pc[OUT_PIECES];
	struct iovec v[OUT_PIECES];
	int np;
	bool hold;                /* the unfinished end (from `tail`) is held */
	bool merged;              /* the held object line was merged and goes now */
	struct pos tail;
	size_t tail_len;          /* program bytes of it */
	struct pos next;          /* where the next round starts */
};

/* A thread's line writer memory, about 31 KiB, in the agent's own memory
 * (a 32 KiB block): the bytes of an unfinished line it holds, the stage
 * that gathers a write's pieces into one write(2), the escapes of JSON
 * output and the program's raw bytes of a held JSON line, and the plan of
 * a write's pieces and the head being rendered.
 * Not thread-local storage: glibc takes the static thread-local blocks
 * out of every thread's stack (and fails pthread_create with EINVAL for a
 * stack that cannot hold them), nor the stack, which may be small. */
struct out_scratch {
	char held[OUT_HOLD];
	char esc[OUT_ESC];
	char stage[OUT_STAGE];    /* pieces gathered for one write(2) */
	char obj[OUT_HOLD];       /* JSON: the held line's raw bytes (obj_live) */
	struct plan pl;
	struct head h;
};

/* How a lock or a state may be waited for. */
enum wait_mode {
	WAIT,       /* the write path: as long as it takes */
	BOUNDED,    /* exit paths: a little, then go on without */
	BRIEF,      /* a redirect or close of an fd (out_flush_fd), for the
	               threads' states: less. A
	               state busy there is its owner's, mid-write, and the
	               owner sends what it held with that write; a writer
	               in a loop frees its state for nanoseconds between
	               writes, so waiting for that gap (BOUNDED: about 20 ms
	               a dup2 onto fd 2 with four threads writing JSON lines)
	               mostly ends without it. Long enough for an owner
	               that only holds a partial line's bytes (no system
	               call) to be done. */
	NO_WAIT,    /* signal handlers: not at all */
};

/* How many rounds `mode` waits at most (not WAIT); BRIEF is for claims
 * (flush_states). */
static inline int spins_of(enum wait_mode mode)
{
	return mode == BOUNDED ? OUT_EXIT_SPINS : mode == BRIEF ? OUT_BRIEF_SPINS : 1;
}

static AGENT_TLS struct out_state self_state;

/*
 * The output lock (locked_out): shared by writes of one system call,
 * exclusive for a write of several. A shared holder takes it the quick
 * way, one atomic add to `io_readers` each way, while no writer is in
 * (`io_writer` clear); a writer takes `io_lock` alone (writers first, so
 * that a long line is not kept waiting by a stream of short ones), sets
 * `io_writer`, and waits for the quick holders to leave (the last one out
 * wakes it: a futex on `io_readers`). A shared holder that finds a writer
 * in waits on `io_lock`, shared. The add and the flag are read in
 * opposite orders by the two sides (both sequentially consistent), so
 * either the holder sees the flag and backs off or the writer sees the
 * holder's count. (glibc's reader-writer lock on this path cost 66
 * instructions a line and an atomic each way.)
 */
static pthread_rwlock_t io_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static unsigned io_readers;
static unsigned io_writer;

/* How the output lock is held. */
enum io_hold {
	IO_NONE,       /* not held (the mode did not allow the wait) */
	IO_QUICK,      /* shared, counted in io_readers */
	IO_SHARED,     /* shared, io_lock */
	IO_ALONE,      /* alone: io_lock and io_writer */
};
static struct out_state *registry;
static volatile int final_flush_done;
static pthread_key_t exit_key;
static bool exit_key_ok;

static pthread_mutex_t reg_mutex = PTHREAD_MUTEX_INITIALIZER;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Takes `m` as `mode` allows. Returns whether it is held. */
static bool lock_as(pthread_mutex_t *m, enum wait_mode mode)
{
	if (mode == WAIT)
		return agent_lock(m) == 0;
	for (int i = 0; i < spins_of(mode); i++) {
		if (agent_trylock(m) == 0)
			return true;
		cpu_relax();
	}
	return false;
}

/* A futex call on the output lock's words. errno stays as it was: a wait
 * that finds the word changed fails with EAGAIN, and the write that
 * follows it may succeed, leaving errno as the program had it. */
static void io_futex(unsigned *word, int op, unsigned val)
{
	int saved = errno;

	REAL(syscall)(SYS_futex, word, op, val, NULL, NULL, 0);
	errno = saved;
}

/* Leaves the quick shared hold; the last holder out wakes a writer.
 * errno stays as it was. */
static inline void io_quick_leave(void)
{
	if (__atomic_sub_fetch(&io_readers, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&io_writer, __ATOMIC_SEQ_CST))
		io_futex(&io_readers, FUTEX_WAKE_PRIVATE, 1);
}

/* With io_lock held alone: keeps quick holders out and waits, as `mode`
 * allows, for those inside to leave. Returns whether they all left (if
 * not, io_writer is clear again and io_lock still held). */
static bool io_writer_in(enum wait_mode mode)
{
	__atomic_store_n(&io_writer, 1, __ATOMIC_SEQ_CST);
	for (int i = 0;; i++) {
		unsigned inside = __atomic_load_n(&io_readers, __ATOMIC_SEQ_CST);

		if (inside == 0)
			return true;
		if (mode == WAIT) {
			io_futex(&io_readers, FUTEX_WAIT_PRIVATE, inside);
			continue;
		}
		if (i + 1 >= spins_of(mode))
			break;
		cpu_relax();
	}
	__atomic_store_n(&io_writer, 0, __ATOMIC_SEQ_CST);
	return false;
}

/* Takes the output lock, shared or not, as `mode` allows. Returns how it
 * is held. */
static inline enum io_hold io_lock_as(bool shared, enum wait_mode mode)
{
	if (shared && likely(!__atomic_load_n(&io_writer, __ATOMIC_RELAXED))) {
		__atomic_add_fetch(&io_readers, 1, __ATOMIC_SEQ_CST);
		if (likely(!__atomic_load_n(&io_writer, __ATOMIC_SEQ_CST)))
			return IO_QUICK;
		io_quick_leave();
	}
	if (mode == WAIT) {
		if ((shared ? pthread_rwlock_rdlock(&io_lock) : pthread_rwlock_wrlock(&io_lock)) != 0)
			return IO_NONE;
		if (shared)
			return IO_SHARED;
		return io_writer_in(WAIT) ? IO_ALONE : IO_NONE;
	}
	for (int i = 0; i < spins_of(mode); i++) {
		if ((shared ? pthread_rwlock_tryrdlock(&io_lock) : pthread_rwlock_trywrlock(&io_lock)) == 0) {
			if (shared)
				return IO_SHARED;
			if (io_writer_in(mode))
				return IO_ALONE;
			pthread_rwlock_unlock(&io_lock);
			return IO_NONE;
		}
		cpu_relax();
	}
	return IO_NONE;
}

/* Gives back what io_lock_as() took. */
static inline void io_unlock(enum io_hold hold)
{
	if (hold == IO_QUICK) {
		io_quick_leave();
		return;
	}
	if (hold == IO_ALONE)
		__atomic_store_n(&io_writer, 0, __ATOMIC_SEQ_CST);
	if (hold != IO_NONE)
		pthread_rwlock_unlock(&io_lock);
}

/* Key destructors run after a sanitizer has seen the thread finish. */
AGENT_NOT_INSTRUMENTED static void thread_exit_hook(void *arg)
{
	(void)arg;
	/* As agent code: a signal handler writing now must pass straight
	 * through, not wait for the state this thread holds. */
	agent_enter();
	out_thread_exit();
	agent_leave();
}

/* quick_exit() runs no destructor: this handler, registered before any of
 * the program's, runs after them. */
static void at_quick_exit_hook(void)
{
	agent_enter();
	out_final();
	agent_leave();
}

/* One stage for the whole process, used only under the output lock: a
 * line of up to OUT_LONG_STAGE bytes with its prefix goes out in one
 * write(2) (the per-thread stage holds OUT_STAGE). Agent memory, mapped
 * here in the constructor, never on the output path; NULL if that failed. */
#define OUT_LONG_STAGE (64 * 1024)
static char *long_stage;

_Static_assert(sizeof(struct out_scratch) <= 32768, "a thread's scratch is one 32 KiB block");

void out_thread_starts(void)
{
	if (self_state.scratch == NULL && !self_state.gone)
		self_state.scratch = mem_alloc_uninit(sizeof *self_state.scratch);
	/* One more at hand, for a thread the agent does not see start
	 * (scratch_late): mapped here, not on its output path. */
	(void)mem_reserve(sizeof(struct out_scratch));
}

void out_init(void)
{
	long_stage = mem_alloc(OUT_LONG_STAGE);
	out_thread_starts();
	head_keepable = agent_config->output != CFG_OUTPUT_JSON;
	for (int i = 0; i < agent_config->nsegs; i++)
		if (agent_config->segs[i].field == 'T')
			head_keepable = false;
	exit_key_ok = pthread_key_create(&exit_key, thread_exit_hook) == 0;
	at_quick_exit(at_quick_exit_hook);
	out_fd_init();
	out_stream_init();
}

/* This thread's state, registered on first use. Uses no allocation, so a
 * signal handler's first write is safe. */
static __attribute__((noinline)) void state_register(struct out_state *st)
{
	agent_lock(&reg_mutex);
	st->prev = NULL;
	st->next = registry;
	if (registry)
		registry->prev = st;
	registry = st;
	st->registered = true;
	st->ended_fd = -1;
	pthread_mutex_unlock(&reg_mutex);
	if (exit_key_ok)
		pthread_setspecific(exit_key, st);
}

static inline struct out_state *state(void)
{
	struct out_state *st = &self_state;

	if (unlikely(!st->registered))
		state_register(st);
	return st;
}

static bool scratch_late(struct out_state *st);

/* state() for a tagged write to fd, which needs the thread's scratch:
 * NULL when it has none (scratch_late), or when the write goes on a JSON
 * line the thread began untagged on fd (raw_open; `ready` is clear while
 * it is open). */
static __attribute__((noinline)) struct out_state *writer_state_slow(struct out_state *st, int fd)
{
	if (!st->registered)
		state_register(st);
	if (st->scratch == NULL && !scratch_late(st))
		return NULL;
	if (st->raw_open)
		return st->fd == fd ? NULL : st;
	st->ready = true;
	return st;
}

static inline struct out_state *writer_state(int fd)
{
	struct out_state *st = &self_state;

	if (likely(st->ready))
		return st;
	return writer_state_slow(st, fd);
}

static bool try_claim(struct out_state *st)
{
	int zero = 0;

	return __atomic_compare_exchange_n(&st->busy, &zero, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void claim(struct out_state *st)
{
	while (!try_claim(st))
		cpu_relax();
}

/* A state for a flush outside its owner's write: this thread's own state
 * is busy only when a signal handler interrupted its write, so it is never
 * waited for; another thread's is, as `mode` allows. */
static bool claim_as(struct out_state *st, enum wait_mode mode)
{
	if (try_claim(st))
		return true;
	if (mode == NO_WAIT || st == &self_state)
		return false;
	for (int i = 0; mode == WAIT || i < spins_of(mode); i++) {
		if (try_claim(st))
			return true;
		cpu_relax();
	}
	return false;
}

static void release(struct out_state *st)
{
	if (st == &self_state)
		agent_self.held_line = st->len != 0;
	__atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
}

/* A claimed state's scratch goes back, unless it still holds bytes or an
 * open JSON line (out_thread_exit gives it back after their flush). */
static void scratch_drop(struct out_state *st)
{
	struct out_scratch *sc = st->scratch;

	if (sc == NULL || st->len != 0 || (st->line_open && agent_config->output == CFG_OUTPUT_JSON))
		return;
	st->scratch = NULL;
	st->ready = false;
	mem_free(sc, sizeof *sc);
}

/* The scratch of a thread whose start the agent did not see (made before
 * the agent was on, or by a raw clone), or of one writing after its start
 * routine returned (another library's thread-exit code): a block the
 * agent's memory has at hand, never a new mapping (no system call on the
 * host's output path). False: none, and the write goes untagged. Freed by
 * out_thread_exit, the destructor of the thread's key, which runs for
 * every pthread that wrote; a thread made by a raw clone has no key
 * destructor and keeps its block. */
static bool scratch_late(struct out_state *st)
{
	struct out_scratch *sc;

	if (st->gone || (sc = mem_alloc_mapped(sizeof *sc)) == NULL)
		return false;
	claim(st);
	st->scratch = sc;
	release(st);
	return true;
}

/* Flushers claim the state before they touch its held bytes; one working
 * on it now (its state busy) leaves the scratch to out_thread_exit. */
void out_scratch_gone(void)
{
	struct out_state *st = &self_state;

	if (st->scratch == NULL || !try_claim(st))
		return;
	scratch_drop(st);
	release(st);
}

/*
 * The agent's own system calls on the output path: write(2) and writev(2)
 * made by syscall(2), which, unlike libc's write and writev, is no
 * cancellation point (POSIX.1-2017, 2.9.5.2: syscall is not in either
 * list). A write made under the output lock or a claimed state must not
 * be one: a thread cancelled inside it (pthread_cancel) kept the lock, or
 * its state busy, and every later line of the process, its own exit's
 * too, waited for ever (a thread cancelled in fprintf(stderr) while
 * serving a request hung the program, 3 of 3 runs; t_cancel). A
 * cancellation that comes meanwhile acts where the hook returns, with
 * nothing held (shim_cancel_point). The system call is the one libc's
 * function makes, with the same arguments, result and errno; what it
 * leaves out is libc's switch to asynchronous cancellation around it, and
 * with it the cost of disabling cancellation around the call (two
 * pthread_setcancelstate calls, each an atomic compare-and-swap: 45
 * instructions a line, and libc's own switch 29 more). A write that
 * blocks for ever (a full pipe nobody reads) cannot be cancelled.
 * Returns what the system call returns; -1 and errno on failure.
 */
static inline ssize_t out_write_call(int fd, const void *p, size_t n)
{
	return REAL(syscall)(SYS_write, fd, p, n);
}

static inline ssize_t out_writev_call(int fd, const struct iovec *v, int n)
{
	return REAL(syscall)(SYS_writev, fd, v, n);
}

/* sys_out()'s write of several pieces: write calls of the pieces gathered
 * into `stage` (`cap` bytes), as described there. */
static ssize_t gathered_out(char *stage, size_t cap, int fd, const struct iovec *v, int n)
{
	size_t total = 0, off = 0;   /* off: bytes of v[i] already gathered */
	int i = 0;

	while (i < n) {
		const char *p = stage;
		size_t len = 0;
		ssize_t r;

		if (stage == NULL || v[i].iov_len - off > cap) {
			p = (const char *)v[i].iov_base + off;
			len = v[i++].iov_len - off;
			off = 0;
		} else {
			while (i < n && len < cap) {
				size_t take = v[i].iov_len - off;

				if (take > cap - len)
					take = cap - len;
				memcpy(stage + len, (const char *)v[i].iov_base + off, take);
				len += take;
				off += take;
				if (off == v[i].iov_len) {
					i++;
					off = 0;
				}
			}
		}
		if (len == 0)
			continue;
		r = out_write_call(fd, p, len);
		if (r < 0)
			return total ? (ssize_t)total : -1;
		total += (size_t)r;
		if ((size_t)r < len)
			break;
	}
	return (ssize_t)total;
}

/* The pieces as the host's own call would send them: a writev as one
 * writev; a write as write calls only, the pieces gathered into `stage`.
 * The stage is filled up, splitting a piece too long for the rest of it,
 * so that a prefix always goes out in one call with the start of its text:
 * a signal handler's line written between two calls (it cannot take the
 * output lock its thread holds) lands inside the text, as in a host's own
 * write that the kernel splits, never between a prefix and its text (the
 * prefix would name the handler's line and leave the text bare). A
 * remainder too long for the stage goes alone, uncopied. Returns what the
 * kernel took, counted as writev counts it: -1 (errno) only when nothing
 * was taken. `cap`: the stage's size. */
static inline ssize_t sys_out(char *stage, size_t cap, int fd, const struct iovec *v, int n,
			      enum out_call how)
{
	if (how == OUT_CALL_WRITEV)
		return out_writev_call(fd, v, n);
	if (n == 1)
		return out_write_call(fd, v[0].iov_base, v[0].iov_len);
	return gathered_out(stage, cap, fd, v, n);
}

/* sys_out() under the output lock, taken shared or alone (or not at all
 * when `mode` does not allow the wait); errno is the call's. Under the
 * lock alone, the process's long stage is this thread's, for pieces of
 * `total` bytes that do not fit the thread's own `stage` (NULL: none). */
static inline __attribute__((always_inline)) ssize_t out_locked_as(bool shared, enum wait_mode mode, char *stage, size_t total,
			     int fd, const struct iovec *v, int n, enum out_call how)
{
	enum io_hold hold = io_lock_as(shared, mode);
	ssize_t r;

	if (hold == IO_ALONE && long_stage != NULL && n > 1 && how != OUT_CALL_WRITEV &&
	    total > OUT_STAGE)
		r = sys_out(long_stage, OUT_LONG_STAGE, fd, v, n, how);
	else
		r = sys_out(stage, OUT_STAGE, fd, v, n, how);
	io_unlock(hold);          /* keeps errno (io_futex) */
	return r;
}

/*
 * Sends the pieces under the output lock, so that one thread's line is
 * not cut by another's, even past PIPE_BUF (a line sent in several calls
 * included). Pieces that go out in one system call of at most PIPE_BUF
 * bytes (a writev, one piece, or pieces gathered into the thread's own
 * stage) take it shared: the kernel keeps each such call whole, and a line
 * sent in several calls, which takes it alone, waits for them and keeps
 * them out until its last call (a lockless path for short lines, tried
 * before, let a short line land between a long line's prefix and its
 * text: t_torture).
 */
static ssize_t locked_out(char *stage, int fd, const struct iovec *v, int n,
			  enum out_call how, enum wait_mode mode)
{
	size_t total = 0;
	bool one_call;

	for (int i = 0; i < n; i++)
		total += v[i].iov_len;
	one_call = total <= PIPE_BUF &&
		   (how == OUT_CALL_WRITEV || n == 1 || (stage != NULL && total <= OUT_STAGE));
	return out_locked_as(one_call, mode, stage, total, fd, v, n, how);
}

/* Writes the held bytes. Returns false when the kernel refused them. */
static bool flush_held(struct out_state *st, enum wait_mode mode)
{
	st->obj_live = false;     /* the held line goes out as it is, quoted */
	while (st->len) {
		struct iovec v = { st->scratch->held, st->len };
		ssize_t r = locked_out(NULL, st->fd, &v, 1, (enum out_call)st->call, mode);

		if (r < 0 && errno == EINTR && mode == WAIT)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return false;
		if (r <= 0) {
			st->len = 0;     /* fd gone or broken: nothing will take them */
			return false;
		}
		memmove(st->scratch->held, st->scratch->held + r, st->len - (size_t)r);
		st->len -= (size_t)r;
	}
	return true;
}

/* The held line is a whole JSON object of the program's, all but its
 * newline (obj_live, the scan at its closing brace): put it in held merged
 * with our members, in place of its quoted form, as the newline would
 * have (plan). Returns false, changing nothing, when it is not or does
 * not fit. Uses the thread's escape scratch, free while its state is
 * claimed outside a write's plan. */
static bool merge_held(struct out_state *st)
{
	struct fmt_obj o = st->scan;
	size_t mh, lead = o.lead, w;

	if (!st->obj_live || fmt_obj_end(&o) != FMT_OBJ_YES)
		return false;
	mh = fmt_merge_head(st->scratch->esc, OUT_HOLD, st->scratch->held + st->obj_at,
			    st->obj_head_len, agent_config, &o);
	w = mh + (st->obj_len - lead) + 1;
	if (mh == 0 || st->obj_at + w > OUT_HOLD)
		return false;
	memcpy(st->scratch->esc + mh, st->scratch->obj + lead, st->obj_len - lead);
	st->scratch->esc[w - 1] = '\n';
	memcpy(st->scratch->held + st->obj_at, st->scratch->esc, w);
	st->len = st->obj_at + w;
	return true;
}

/* A JSON object cannot stay open across the end of the process or a switch
 * of fd: close it (its message then lacks the newline); a held line that
 * is the program's own object but for its newline goes merged. A text
 * line simply continues where it stopped. */
static void finish_line(struct out_state *st, enum wait_mode mode)
{
	if (agent_config->output != CFG_OUTPUT_JSON || !st->line_open || st->scratch == NULL)
		return;
	if (merge_held(st)) {
		st->obj_live = false;
		st->line_open = false;
		return;
	}
	st->obj_live = false;
	if (st->len + FMT_JSON_END_LEN > OUT_HOLD)
		flush_held(st, mode);
	if (st->len + FMT_JSON_END_LEN <= OUT_HOLD) {
		memcpy(st->scratch->held + st->len, FMT_JSON_END, FMT_JSON_END_LEN);
		st->len += FMT_JSON_END_LEN;
	}
	st->line_open = false;
}

/* Bytes after `at` in the iovec array: any at all? */
static bool more_after(const struct iovec *iov, int iovcnt, struct pos at)
{
	if (at.vi >= iovcnt)
		return false;
	if (at.off < iov[at.vi].iov_len)
		return true;
	for (int i = at.vi + 1; i < iovcnt; i++)
		if (iov[i].iov_len)
			return true;
	return false;
}

/* Bytes from `at` to the end: returns what holding them takes (their JSON
 * escape in JSON mode) and sets *app to the program's bytes. */
static size_t tail_size(const struct iovec *iov, int iovcnt, struct pos at,
			bool json, size_t *app)
{
	size_t need = 0, n = 0;

	for (int i = at.vi; i < iovcnt; i++, at.off = 0) {
		const char *p = (const char *)iov[i].iov_base + at.off;
		size_t len = iov[i].iov_len - at.off;

		n += len;
		need += json ? fmt_escape_len(p, len) : len;
	}
	*app = n;
	return need;
}

/* Where the unfinished end of the write starts: after its last newline
 * (vi -1: no newline at all). */
static struct pos unfinished_end(const struct iovec *iov, int iovcnt)
{
	for (int i = iovcnt - 1; i >= 0; i--) {
		const char *nl = iov[i].iov_len ? memrchr(iov[i].iov_base, '\n', iov[i].iov_len) : NULL;

		if (nl)
			return (struct pos){ i, (size_t)(nl - (const char *)iov[i].iov_base) + 1 };
	}
	return (struct pos){ -1, 0 };
}

/* Feeds the program's bytes from `at` up to the first newline to `o`.
 * Returns FMT_OBJ_NO (not an object line), FMT_OBJ_MORE (no newline yet)
 * or, at the newline, fmt_obj_end(); *n: the bytes through the newline. */
static int scan_line(struct fmt_obj *o, const struct iovec *iov, int iovcnt, struct pos at,
		     size_t *n)
{
	*n = 0;
	for (int i = at.vi; i < iovcnt; i++, at.off = 0) {
		const char *p = (const char *)iov[i].iov_base + at.off;
		size_t len = iov[i].iov_len - at.off;
		const char *nl = len ? memchr(p, '\n', len) : NULL;
		size_t seg = nl ? (size_t)(nl - p) : len;

		if (fmt_obj_feed(o, agent_config, p, seg) == FMT_OBJ_NO)
			return FMT_OBJ_NO;
		*n += seg;
		if (nl) {
			*n += 1;
			return fmt_obj_end(o);
		}
	}
	return FMT_OBJ_MORE;
}

/* Copies the program's bytes [skip, n) counted from `at` to dst. */
static size_t copy_from(char *dst, const struct iovec *iov, int iovcnt, struct pos at,
			size_t skip, size_t n)
{
	size_t o = 0, seen = 0;

	for (int i = at.vi; i < iovcnt && seen < n; i++, at.off = 0) {
		const char *p = (const char *)iov[i].iov_base + at.off;
		size_t len = iov[i].iov_len - at.off;

		if (len > n - seen)
			len = n - seen;
		if (seen + len > skip) {
			size_t from = skip > seen ? skip - seen : 0;

			memcpy(dst + o, p + from, len - from);
			o += len - from;
		}
		seen += len;
	}
	return o;
}

/* Moves `at` on by n program bytes. */
static struct pos advance(const struct iovec *iov, int iovcnt, struct pos at, size_t n)
{
	while (n && at.vi < iovcnt) {
		size_t len = iov[at.vi].iov_len - at.off;

		if (n < len) {
			at.off += n;
			return at;
		}
		n -= len;
		at.vi++;
		at.off = 0;
	}
	return at;
}

static void add(struct plan *pl, const char *p, size_t n, size_t app, uint8_t kind, bool open_after)
{
	pl->pc[pl->np] = (struct piece){ p, n, app, kind, open_after };
	pl->v[pl->np].iov_base = (void *)p;
	pl->v[pl->np].iov_len = n;
	pl->np++;
}

/*
 * Plans one round from `at`: the held bytes first, then whole lines (each
 * with a head where it starts), up to the unfinished end, which is held
 * if it fits - next to what is held already when nothing else goes out
 * now, or alone after the lines that do - and written through otherwise.
 */
static void plan(struct out_state *st, const struct iovec *iov, int iovcnt, struct pos at,
		 struct pos end, struct head *h, struct plan *pl)
{
	const struct config *cfg = agent_config;
	bool json = cfg->output == CFG_OUTPUT_JSON;
	bool open = st->line_open, tail_tried = false;
	size_t esc_used = 0;

	pl->np = 0;
	pl->hold = false;
	pl->merged = false;
	if (json && st->obj_live && st->line_open && at.vi == 0 && at.off == 0) {
		/* The held line may be a JSON object of the program's: if this
		 * write ends it as one, it goes merged with our members, in
		 * place of its quoted form. */
		struct fmt_obj o = st->scan;
		size_t n, mh, lead = o.lead;
		int res = scan_line(&o, iov, iovcnt, at, &n);

		if (res == FMT_OBJ_YES) {
			mh = fmt_merge_head(st->scratch->esc, OUT_HOLD, st->scratch->held + st->obj_at,
					    st->obj_head_len, cfg, &o);
			if (mh && mh + (st->obj_len - lead) + n <= OUT_HOLD) {
				size_t w = mh;

				memcpy(st->scratch->esc + w, st->scratch->obj + lead, st->obj_len - lead);
				w += st->obj_len - lead;
				w += copy_from(st->scratch->esc + w, iov, iovcnt, at, 0, n);
				/* What was held before the line; the rest of held
				 * (the quoted form) is dropped once this is out. */
				add(pl, st->scratch->held, st->obj_at, 0, P_HELD, false);
				add(pl, st->scratch->esc, w, n, P_ATOM, false);
				esc_used = w;
				at = advance(iov, iovcnt, at, n);
				open = false;
				pl->merged = true;
			}
		}
		if (!pl->merged && res != FMT_OBJ_MORE)
			st->obj_live = false;
	}
	if (st->len && !pl->merged)
		add(pl, st->scratch->held, st->len, 0, P_HELD, open);
	while (at.vi < iovcnt && pl->np < OUT_PIECES - 3) {
		const char *p, *nl;
		size_t avail, seg;
		bool ends;

		if (at.off >= iov[at.vi].iov_len) {
			at.vi++;
			at.off = 0;
			continue;
		}
		p = (const char *)iov[at.vi].iov_base + at.off;
		avail = iov[at.vi].iov_len - at.off;
		nl = memchr(p, '\n', avail);
		seg = nl ? (size_t)(nl - p) + 1 : avail;
		ends = nl != NULL;
		if (!h->ready && !open) {
			const char *ht = line_head(st, h->text, sizeof h->text, p, seg,
						   ends && iovcnt == 1 && seg == iov[0].iov_len,
						   &h->len);

			if (ht != h->text)
				memcpy(h->text, ht, h->len);
			/* one head for the write, unless a runtime's buffer may
			 * hold lines of several threads in it */
			h->ready = !h->per_line;
		}
		if (!tail_tried && (at.vi > end.vi || (at.vi == end.vi && at.off >= end.off))) {
			size_t need = (open ? 0 : h->len) + tail_size(iov, iovcnt, at, json, &pl->tail_len);
			bool alone = pl->np == (st->len ? 1 : 0);

			tail_tried = true;
			if ((alone ? st->len + need : need) <= OUT_HOLD) {
				pl->hold = true;
				pl->tail = at;
				at = (struct pos){ iovcnt, 0 };
				break;
			}
			st->obj_live = false;
		}
		if (json && !open) {
			/* A whole line that is one JSON object: merged, as one
			 * indivisible piece (so it fits `held` if cut). */
			struct fmt_obj o;
			size_t n, room = OUT_ESC - esc_used;

			fmt_obj_init(&o);
			if (room > OUT_HOLD)
				room = OUT_HOLD;
			if (scan_line(&o, iov, iovcnt, at, &n) == FMT_OBJ_YES) {
				char *d = st->scratch->esc + esc_used;
				size_t mh = fmt_merge_head(d, OUT_ESC - esc_used, h->text, h->len, cfg, &o);
				size_t need = mh + n - o.lead;

				if (mh && need <= room) {
					size_t w = mh + copy_from(d + mh, iov, iovcnt, at, o.lead, n);

					add(pl, d, w, n, P_ATOM, false);
					esc_used += w;
					at = advance(iov, iovcnt, at, n);
					continue;
				}
				if ((mh == 0 || need <= OUT_HOLD) && room < OUT_HOLD)
					break;        /* scratch full: this line next round */
			}
		}
		if (!open) {
			const char *ht = h->text;

			if (h->per_line && h->len) {
				/* Each line's head its own bytes: h->text is the
				 * next line's. A full scratch sends this line next
				 * round, with this head (ready: not looked up twice). */
				if (OUT_ESC - esc_used < h->len) {
					h->ready = true;
					break;
				}
				ht = memcpy(st->scratch->esc + esc_used, h->text, h->len);
				esc_used += h->len;
				h->ready = false;
			}
			if (h->len)
				add(pl, ht, h->len, 0, P_HEAD, true);
			open = true;
		}
		if (!json) {
			add(pl, p, seg, seg, P_RAW, !ends);
			at.off += seg;
			open = !ends;
			continue;
		}
		{
			size_t body = ends ? seg - 1 : seg, used;
			size_t room = OUT_ESC - esc_used;
			/* An escape piece must fit `held` if it is cut. */
			size_t w = fmt_escape(st->scratch->esc + esc_used, room < OUT_HOLD ? room : OUT_HOLD,
					      p, body, &used);

			if (w)
				add(pl, st->scratch->esc + esc_used, w, used, P_ATOM, true);
			esc_used += w;
			at.off += used;
			if (used < body)
				break;        /* scratch full: the rest next round */
			if (ends) {
				add(pl, FMT_JSON_END, FMT_JSON_END_LEN, 1, P_ATOM, false);
				at.off += 1;
				open = false;
			}
		}
	}
	/* JSON, in a program with threads: a round that sends part of a line
	 * and holds nothing of it (an unfinished end too long to hold, or a
	 * long line's earlier rounds) closes its object here, not left open
	 * for another thread's objects to land inside it between this
	 * round's call and the next one's; the line's rest is an object of
	 * its own (a newline alone adds none), as at a wait
	 * (out_flush_thread). A single thread keeps a long line one object. */
	if (json && open && !pl->hold && __atomic_load_n(&agent_threads_made, __ATOMIC_RELAXED))
		add(pl, FMT_JSON_END, FMT_JSON_END_LEN, 0, P_CLOSE, false);
	pl->next = at;
}

/*
 * Accounts for the r bytes the kernel took of the plan: held bytes sent
 * are dropped, a cut indivisible piece (head, escape) is owed first and
 * its rest held, the program's bytes are counted as far as they went.
 * Adds the program's bytes to *app; returns whether every piece went out.
 */
static bool settle(struct out_state *st, int fd, const struct plan *pl, size_t r, size_t *app)
{
	bool open = st->line_open;

	for (int k = 0; k < pl->np; k++) {
		const struct piece *q = &pl->pc[k];

		if (r >= q->len) {
			r -= q->len;
			*app += q->app;
			open = q->open_after;
			if (q->kind == P_HELD) {
				st->len = 0;
				st->obj_live = false;
			} else if (q->kind == P_CLOSE) {
				st->cut = true;
			}
			continue;
		}
		switch (q->kind) {
		case P_HELD:
			memmove(st->scratch->held, st->scratch->held + r, st->len - r);
			st->len -= r;
			if (st->obj_live && r <= st->obj_at)
				st->obj_at -= r;
			else
				st->obj_live = false;
			break;
		case P_CLOSE:
			st->cut = true;
			/* fall through */
		case P_HEAD:
		case P_ATOM:
			/* Part of an indivisible piece is out: the rest is
			 * owed before anything else, and counts as written. */
			memcpy(st->scratch->held, q->p + r, q->len - r);
			st->len = q->len - r;
			st->fd = fd;
			*app += q->app;
			open = q->open_after;
			break;
		case P_RAW:
			*app += r;
			if (r)
				open = true;
			break;
		}
		st->line_open = open;
		return false;
	}
	st->line_open = open;
	return true;
}

/* Keeps the unfinished end of the write (its head first, if the line
 * starts there). Returns the program's bytes held. */
static size_t hold(struct out_state *st, int fd, const struct plan *pl,
		   const struct iovec *iov, int iovcnt, const struct head *h)
{
	bool json = agent_config->output == CFG_OUTPUT_JSON;

	if (json && !st->line_open) {
		/* A line starts here: it may turn out one JSON object. */
		fmt_obj_init(&st->scan);
		st->obj_live = true;
		st->obj_at = st->len;
		st->obj_head_len = h->len;
		st->obj_len = 0;
	}
	if (st->obj_live) {
		size_t n;

		if (scan_line(&st->scan, iov, iovcnt, pl->tail, &n) == FMT_OBJ_MORE &&
		    st->obj_len + n <= OUT_HOLD)
			st->obj_len += copy_from(st->scratch->obj + st->obj_len, iov, iovcnt, pl->tail, 0, n);
		else
			st->obj_live = false;
	}
	if (!st->line_open) {
		memcpy(st->scratch->held + st->len, h->text, h->len);
		st->len += h->len;
		st->line_open = true;
	}
	for (int i = pl->tail.vi; i < iovcnt; i++) {
		size_t off = i == pl->tail.vi ? pl->tail.off : 0, used;
		const char *tp = (const char *)iov[i].iov_base + off;
		size_t tn = iov[i].iov_len - off;

		if (json) {
			st->len += fmt_escape(st->scratch->held + st->len, OUT_HOLD - st->len, tp, tn, &used);
		} else {
			memcpy(st->scratch->held + st->len, tp, tn);
			st->len += tn;
		}
	}
	st->fd = fd;
	return pl->tail_len;
}

/* The write itself; `st` is claimed and belongs to `fd`. */
/* Accounts for a round the kernel took r bytes of (-1 and errno: none;
 * `signals`: agent_self.signals before the call). Returns true when the
 * write goes on; false when it ends here, with *ret its result: the
 * program's count so far, or -1 and errno when none of its bytes went
 * out. */
static bool round_sent(struct out_state *st, int fd, struct plan *pl, ssize_t r,
		       unsigned signals, size_t *done, ssize_t *ret)
{
	size_t app = 0;

	if (r < 0) {
		int err = errno;

		if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
			st->len = 0;       /* the fd is gone or broken */
			st->line_open = false;
			st->obj_live = false;
		}
		*ret = *done ? (ssize_t)*done : -1;
		errno = err;
		return false;
	}
	if (!pl->merged && !pl->hold)
		st->obj_live = false;
	if (!settle(st, fd, pl, (size_t)r, &app)) {
		*done += app;
		if (*done) {
			*ret = (ssize_t)*done;
			return false;
		}
		/* Only our own bytes went out. A signal handler of the program
		 * ran meanwhile: the write was cut short by it, and the program
		 * sees it interrupted before any of its bytes, as EINTR.
		 * Otherwise the fd is non-blocking and full: EAGAIN. (The rest
		 * of ours goes out first next time.) */
		errno = agent_self.signals != signals ? EINTR : EAGAIN;
		*ret = -1;
		return false;
	}
	*done += app;
	return true;
}

/* Sends a planned round and accounts for it (round_sent). */
static bool send_round(struct out_state *st, int fd, struct plan *pl, enum out_call how,
		       size_t *done, ssize_t *ret)
{
	ssize_t r = 0;
	unsigned signals = agent_self.signals;

	if (pl->hold && pl->np == (st->len ? 1 : 0)) {
		/* Only more of the unfinished line: no system call, the held
		 * bytes stay held. */
		pl->np = 0;
	} else if (pl->np > 0) {
		r = locked_out(st->scratch->stage, fd, pl->v, pl->np, how, WAIT);
	}
	return round_sent(st, fd, pl, r, signals, done, ret);
}

/* A write that is not one whole line: planned and sent round by round,
 * its unfinished end held (the thread's scratch: out_write saw to it). */
static __attribute__((noinline)) ssize_t emit(struct out_state *st, int fd,
					      const struct iovec *iov, int iovcnt,
					      enum out_call how)
{
	struct out_scratch *sc = st->scratch;
	struct pos at = { 0, 0 }, end = unfinished_end(iov, iovcnt);
	struct head *h = &sc->h;
	struct plan *pl = &sc->pl;
	size_t done = 0;
	ssize_t ret;

	h->ready = false;
	h->len = 0;
	h->per_line = __atomic_load_n(&buffered_live, __ATOMIC_RELAXED) != 0;

	for (;;) {
		plan(st, iov, iovcnt, at, end, h, pl);
		if (!send_round(st, fd, pl, how, &done, &ret))
			return ret;
		if (pl->hold)
			done += hold(st, fd, pl, iov, iovcnt, h);
		at = pl->next;
		if (pl->hold || !more_after(iov, iovcnt, at))
			return (ssize_t)done;
	}
}


/* The common write: one whole text line (a single newline, at its end)
 * from a thread that holds nothing, in one piece, or for a writev in up
 * to OUT_QUICK_PIECES pieces none of them empty. Laid out as plan() would
 * lay it out (head, pieces) and accounted as any round; only the planning
 * is skipped. */
#define OUT_QUICK_PIECES 8

static bool whole_line(const struct out_state *st, const struct iovec *iov, int iovcnt)
{
	const char *p = iov[iovcnt - 1].iov_base;
	size_t n = iov[iovcnt - 1].iov_len;

	if (st->len != 0 || st->line_open || agent_config->output == CFG_OUTPUT_JSON ||
	    iovcnt > OUT_QUICK_PIECES)
		return false;
	for (int i = 0; i < iovcnt - 1; i++)
		if (iov[i].iov_len == 0 || memchr(iov[i].iov_base, '\n', iov[i].iov_len) != NULL)
			return false;
	return n > 0 && p[n - 1] == '\n' && (n == 1 || memchr(p, '\n', n - 1) == NULL);
}

/* The rounds of a whole line that the quick way did not send whole (a
 * long line, or a short count): `r` and `signals` as that call left
 * them when `quick`. The plan is the scratch's. */
static __attribute__((noinline)) ssize_t line_rounds(struct out_state *st, struct plan *pl, int fd,
						     const struct iovec *iov, int iovcnt,
						     const char *ht, size_t hlen, bool quick,
						     ssize_t r, unsigned signals, enum out_call how)
{
	size_t done = 0;
	ssize_t ret;

	pl->np = 0;
	pl->hold = false;
	pl->merged = false;
	if (hlen)
		add(pl, ht, hlen, 0, P_HEAD, true);
	for (int i = 0; i < iovcnt; i++)
		add(pl, iov[i].iov_base, iov[i].iov_len, iov[i].iov_len, P_RAW, i < iovcnt - 1);
	if (quick ? !round_sent(st, fd, pl, r, signals, &done, &ret) :
		    !send_round(st, fd, pl, how, &done, &ret))
		return ret;
	return (ssize_t)done;
}

/* A whole line (whole_line) of `total` bytes. Its head is rendered into
 * the scratch's (emit's, which sets it up afresh), not on the stack: a
 * tagged write takes a thread's stack only for frames (t_small_stack). */
static ssize_t emit_line(struct out_state *st, int fd, const struct iovec *iov, int iovcnt,
			 size_t total, enum out_call how)
{
	char *text = st->scratch->h.text;
	const char *ht;
	size_t hlen;
	ssize_t r = 0;
	unsigned signals = 0;
	bool quick;

	ht = line_head(st, text, FMT_HEAD_MAX, iov[0].iov_base, iov[0].iov_len, iovcnt == 1,
		       &hlen);
	quick = hlen + total <= PIPE_BUF &&
		(how == OUT_CALL_WRITEV || (iovcnt == 1 && hlen + total <= OUT_STAGE));
	if (quick) {
		/* The usual tagged line, in one call of at most PIPE_BUF bytes
		 * (locked_out() takes the lock shared for it): a writev with the
		 * head as its first piece, a write gathered in the stage as
		 * sys_out() gathers it. When all of it went out, the round's
		 * accounting leaves the state as it found it (whole_line: text
		 * output, no line open). */
		struct iovec v[OUT_QUICK_PIECES + 1];
		const struct iovec *out = iov;
		int k = iovcnt;

		if (hlen && how == OUT_CALL_WRITEV) {
			v[0] = (struct iovec){ (void *)ht, hlen };
			memcpy(v + 1, iov, (size_t)iovcnt * sizeof *iov);
			out = v;
			k = iovcnt + 1;
		} else if (hlen) {
			memcpy(st->scratch->stage, ht, hlen);
			memcpy(st->scratch->stage + hlen, iov[0].iov_base, total);
			v[0] = (struct iovec){ st->scratch->stage, hlen + total };
			out = v;
		}
		/* As send_round(): a signal handler that runs from here on cut
		 * the call short (round_sent). */
		signals = agent_self.signals;
		r = out_locked_as(true, WAIT, NULL, hlen + total, fd, out, k, how);
		if (r == (ssize_t)(hlen + total))
			return (ssize_t)total;
	}
	return line_rounds(st, &st->scratch->pl, fd, iov, iovcnt, ht, hlen, quick, r, signals, how);
}

/* Inside the program's signal handler? A handler left by siglongjmp never
 * returned through the agent's wrapper: once this thread runs above the
 * frame the handler was entered at, it is not in the handler any more. */
static bool in_signal_handler(void)
{
	char here;

	if (likely(agent_self.in_signal == 0))
		return false;
	if ((const void *)&here > agent_self.signal_frame) {
		agent_self.in_signal = 0;
		return false;
	}
	return true;
}

/* Straight through, as the host's own call. */
/* The program's call as it is, by libc's function: a cancellation point
 * where the program's own is one (no agent lock or claimed state is held
 * here). */
static ssize_t pass(int fd, const struct iovec *iov, int iovcnt, enum out_call how)
{
	if (how == OUT_CALL_WRITE && iovcnt == 1)
		return REAL(write)(fd, iov[0].iov_base, iov[0].iov_len);
	return REAL(writev)(fd, iov, iovcnt);
}

/* pass(), made while the thread's state is claimed: no cancellation point
 * (out_write_call). */
static ssize_t pass_claimed(int fd, const struct iovec *iov, int iovcnt, enum out_call how)
{
	if (how == OUT_CALL_WRITE && iovcnt == 1)
		return out_write_call(fd, iov[0].iov_base, iov[0].iov_len);
	return out_writev_call(fd, iov, iovcnt);
}

/* php-fpm's workers end each request's stderr with this record to their
 * master (sizeof "\0fscf": six bytes, both NULs included). */
static const char fpm_flush[6] = { 0, 'f', 's', 'c', 'f', 0 };

static bool control_record(const struct iovec *iov, int iovcnt)
{
	char b[sizeof fpm_flush];
	size_t o = 0;

	for (int i = 0; i < iovcnt; i++) {
		memcpy(b + o, iov[i].iov_base, iov[i].iov_len);
		o += iov[i].iov_len;
	}
	return memcmp(b, fpm_flush, sizeof b) == 0;
}

/* The last of the first `n` bytes of the pieces (n > 0, at most their
 * total); '\n' when it cannot be read: a device that discards what it is
 * given (/dev/null) counts bytes it never read. */
static char byte_at_count(const struct iovec *iov, int iovcnt, size_t n)
{
	for (int i = 0; i < iovcnt; i++) {
		if (n <= iov[i].iov_len) {
			const char *last = (const char *)iov[i].iov_base + n - 1;

			return probe_readable(last, 1) ? *last : '\n';
		}
		n -= iov[i].iov_len;
	}
	return '\n';
}

/* The call as it is, with no head. What this thread holds for the fd goes
 * first, as its bytes came first. A binary control record (`text`
 * false) opens and ends no line. Text the agent must not read (`text`
 * true: the kernel may take part of it) leaves the line open or ended as
 * the last byte the kernel took says (read only if readable: a device
 * like /dev/null takes bytes without reading them). The next bytes then continue that line without a
 * head, as without the agent (text output; in JSON the agent's objects
 * cannot continue the program's raw bytes). */
static ssize_t pass_held_first(int fd, const struct iovec *iov, int iovcnt, enum out_call how,
			       bool text)
{
	struct out_state *st = state();
	ssize_t r;
	int saved = errno;

	claim(st);
	if (st->fd == fd && st->len) {
		flush_held(st, WAIT);
		errno = saved;    /* the flush's own errno is not the program's */
	}
	r = pass_claimed(fd, iov, iovcnt, how);
	saved = errno;
	if (r > 0 && st->fd == fd)
		st->cut = false;  /* bytes after the cut line: a newline now is one */
	/* (In JSON, not while an object of the agent's is open: it is
	 * closed where its fd's next tagged write finds it.) */
	if (text && r > 0 && st->len == 0 &&
	    !(st->line_open && agent_config->output == CFG_OUTPUT_JSON)) {
		bool open = byte_at_count(iov, iovcnt, (size_t)r) != '\n';

		st->fd = fd;
		st->obj_live = false;
		/* In JSON the agent's objects cannot continue the program's
		 * raw bytes: the rest of that line goes untagged too. */
		if (agent_config->output == CFG_OUTPUT_JSON) {
			st->raw_open = open;
			if (open)
				st->ready = false;   /* writer_state() asks */
		} else {
			st->line_open = open;
		}
	}
	release(st);
	errno = saved;
	return r;
}

int out_any_tagged;

ssize_t out_write(int fd, const struct iovec *iov, int iovcnt, enum out_call how)
{
	struct out_state *st;
	size_t total = 0;
	bool readable = true;
	ssize_t r;
	int *ep, entry_errno;

	outputs_count();          /* reqctx_api_progress */
	if (iovcnt <= 0 || iovcnt > IOV_MAX || final_flush_done || self_state.gone ||
	    in_signal_handler())
		return pass(fd, iov, iovcnt, how);
	/* Bytes the kernel would refuse (EFAULT, or a short count at the
	 * first bad page): the call as it is, after what this thread holds
	 * for the fd, untagged. A write's one piece is the caller's own
	 * iovec, a writev's array the program's. */
	if (unlikely(how == OUT_CALL_WRITEV && !probe_readable(iov, (size_t)iovcnt * sizeof *iov)))
		return pass_held_first(fd, iov, iovcnt, how, false);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return pass(fd, iov, iovcnt, how);   /* the kernel's EINVAL */
		total += iov[i].iov_len;
		readable = readable && probe_readable(iov[i].iov_base, iov[i].iov_len);
	}
	if (total == 0)
		return pass(fd, iov, iovcnt, how);
	if (unlikely(!readable))
		return pass_held_first(fd, iov, iovcnt, how, true);
	if (unlikely(total == sizeof fpm_flush) && control_record(iov, iovcnt))
		return pass_held_first(fd, iov, iovcnt, how, false);
	if (unlikely(!__atomic_load_n(&out_any_tagged, __ATOMIC_RELAXED)))
		__atomic_store_n(&out_any_tagged, 1, __ATOMIC_RELAXED);
	ep = &errno;
	entry_errno = *ep;
	st = writer_state(fd);
	if (unlikely(st == NULL))
		return pass_held_first(fd, iov, iovcnt, how, true);
	claim(st);
	if (st->fd != fd) {
		/* Another fd: what this thread started elsewhere ends here,
		 * unless it goes on there: stdout and stderr on one file (2>&1),
		 * a text line begun on one and ended on the other, goes on with
		 * no second prefix. */
		bool goes_on = st->line_open && agent_config->output != CFG_OUTPUT_JSON &&
			       out_fd_same_file(st->fd, fd);

		if (st->len) {
			if (!goes_on)
				finish_line(st, WAIT);
			flush_held(st, WAIT);
		}
		st->len = 0;
		if (!goes_on) {
			st->line_open = false;
			st->obj_live = false;
		}
		st->raw_open = false;
		st->cut = false;
		st->fd = fd;
	}
	st->call = (uint8_t)how;
	if (unlikely(st->cut)) {
		st->cut = false;
		if (iovcnt >= 1 && iov[0].iov_len > 0 && *(const char *)iov[0].iov_base == '\n') {
			/* The end of the line out_flush_thread (or a round)
			 * closed: it ended there (its object has no "\n" in
			 * its message, as one closed at exit); what follows
			 * the newline in the same write is the next line. */
			if (total == 1) {
				release(st);
				*ep = entry_errno;
				return 1;
			}
			if (iovcnt <= OUT_QUICK_PIECES) {
				struct iovec rest[OUT_QUICK_PIECES];

				memcpy(rest, iov, (size_t)iovcnt * sizeof *iov);
				rest[0].iov_base = (char *)rest[0].iov_base + 1;
				rest[0].iov_len--;
				r = emit(st, fd, rest, iovcnt, how);
				release(st);
				if (r < 0)
					return r;
				*ep = entry_errno;
				return r + 1;
			}
		}
	}
	r = whole_line(st, iov, iovcnt) ? emit_line(st, fd, iov, iovcnt, total, how) :
					   emit(st, fd, iov, iovcnt, how);
	release(st);
	/* A call that succeeds leaves errno as the program had it, whatever
	 * the agent's own calls before it met (a lock's futex wait finding
	 * the word changed, a held line's write to another fd); one that
	 * fails leaves the failing call's. */
	if (r >= 0)
		*ep = entry_errno;
	return r;
}

bool out_stdio_heads(void)
{
	return agent_config->output != CFG_OUTPUT_JSON;
}

size_t out_stdio_head(char *dst, size_t cap, const char *p, size_t n)
{
	if (!out_stdio_heads())
		return 0;
	return fmt_head(dst, cap, agent_config, line_ctx(p, n));
}

size_t out_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	size_t done = 0;

	writing_stdio = true;
	while (done < n) {
		struct iovec v = { (void *)(p + done), n - done };
		ssize_t r = out_write(fd, &v, 1, OUT_CALL_WRITE);

		if (r < 0)
			break;
		done += (size_t)r;
	}
	writing_stdio = false;
	return done;
}

void out_flush_thread(void)
{
	struct out_state *st = &self_state;
	int saved = errno;

	if (!st->registered || st->len == 0 || !try_claim(st))
		return;
	/* JSON: the object is closed, not left open across the wait, where
	 * other threads' objects would land inside it; the line's rest, when
	 * it comes, is an object of its own, unless it is the newline alone. */
	st->cut = st->line_open && agent_config->output == CFG_OUTPUT_JSON;
	finish_line(st, WAIT);
	flush_held(st, WAIT);
	release(st);
	errno = saved;
}

AGENT_NOT_INSTRUMENTED void out_thread_exit(void)
{
	struct out_state *st = &self_state;
	int saved = errno;

	if (!st->registered)
		return;
	claim(st);
	finish_line(st, WAIT);
	flush_held(st, WAIT);
	st->len = 0;
	st->obj_live = false;
	/* The registry's lock is never waited for with a claim held: a
	 * flusher holds it while it waits for claims (flush_states), and an
	 * exiting thread that kept its claim made every flush wait its whole
	 * bound for it, while the threads behind the lock piled up (a trial:
	 * dup2 onto fd 2 in a loop while threads come and go, exit 19-21 s
	 * late or never). Nothing is held now: a flusher that claims it in
	 * between finds nothing to write. */
	release(st);
	agent_lock(&reg_mutex);
	if (st->prev)
		st->prev->next = st->next;
	else
		registry = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->registered = false;
	st->ready = false;
	st->gone = true;          /* its TLS goes away soon: never register again */
	pthread_mutex_unlock(&reg_mutex);
	claim(st);
	scratch_drop(st);
	release(st);
	errno = saved;
}

/*
 * Every thread's held bytes - for `fd` only, or for all fds (fd < 0) - go
 * out. If this thread was interrupted inside its own write (its state is
 * busy) nothing may be waited for: the interrupted code may hold any of
 * the locks.
 */
static void flush_states(int fd, bool finish, bool end_lines, enum wait_mode mode)
{
	int saved = errno;
	enum wait_mode locks;

	if (__atomic_load_n(&self_state.busy, __ATOMIC_RELAXED))
		mode = NO_WAIT;
	/* BRIEF's rounds are for the states' claims only. The registry's lock
	 * is held for moments, and the output lock held alone is a long line
	 * going out in several calls: held bytes written without it could
	 * land between that line's head and its text. */
	locks = mode == BRIEF ? BOUNDED : mode;
	if (!lock_as(&reg_mutex, locks)) {
		errno = saved;
		return;
	}
	for (struct out_state *st = registry; st; st = st->next) {
		/* A later flush ends what an earlier one left open to go on,
		 * except a second one of the same fd (a close, then the dup2
		 * that puts a saved copy back). */
		if (end_lines && st->ended_fd != fd)
			st->ended_fd = -1;
		if (fd >= 0 && st->fd != fd)
			continue;
		if (!claim_as(st, mode))
			continue;        /* mid-write: its owner settles it */
		if (finish)
			finish_line(st, locks);
		flush_held(st, locks);
		if (end_lines) {
			/* text: JSON's finish closed its object */
			if (st->line_open && fd >= 0)
				st->ended_fd = fd;
			st->len = 0;
			st->line_open = false;
			st->fd = -1;
		}
		release(st);
	}
	pthread_mutex_unlock(&reg_mutex);
	errno = saved;
}

void out_flush_all(bool finish, bool from_signal)
{
	flush_states(-1, finish, false, from_signal ? NO_WAIT : BOUNDED);
}

void out_final(void)
{
	out_flush_all(true, false);
	final_flush_done = 1;
}

void out_flush_fd(int fd)
{
	if (fd >= 0 && registry)
		flush_states(fd, true, true, BRIEF);
}

/* The redirect out_flush_fd(fd) went before failed: fd still refers to
 * the file those lines were on. A thread whose text line there the flush
 * ended, and that wrote nothing since, goes on with it: its next bytes
 * continue that line, with no second head (before, a failed dup2 onto
 * fd 2 split a line the program wrote in pieces in two, each with its
 * prefix). A line another flush or the thread's own write ended since
 * stays ended. */
void out_flush_fd_undo(int fd)
{
	int saved = errno;

	if (fd < 0 || registry == NULL)
		return;
	if (!lock_as(&reg_mutex, BOUNDED))
		return;
	for (struct out_state *st = registry; st; st = st->next) {
		if (st->ended_fd != fd)
			continue;
		st->ended_fd = -1;
		if (!claim_as(st, BRIEF))
			continue;
		if (st->fd == -1 && st->len == 0 && !st->line_open) {
			st->fd = fd;
			st->line_open = true;
		}
		release(st);
	}
	pthread_mutex_unlock(&reg_mutex);
	errno = saved;
}

/* Across fork, held bytes stay with the parent, which writes them when
 * their line ends; the child drops its copy and starts its own lines. So
 * nothing is written twice, and nothing has to be written early.
 *
 * The fork takes neither the output lock nor the registry's: the child
 * starts both afresh and reads nothing they guard (the other threads'
 * states, the long stage's bytes), and the output lock is held across a
 * write's system call, so waiting for it would make fork wait for a
 * stalled log's reader (t_fork_stall). */
void out_after_fork_child(void)
{
	out_fd_forked();
	if (agent_self.cur)
		out_fd_started_in_request();
	/* Only the forking thread exists here: forget the others' states. */
	io_lock = (pthread_rwlock_t)PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
	io_readers = 0;
	io_writer = 0;
	pthread_mutex_init(&reg_mutex, NULL);
	registry = NULL;
	if (self_state.registered) {
		self_state.next = self_state.prev = NULL;
		registry = &self_state;
	}
	self_state.len = 0;
	self_state.line_open = false;
	self_state.raw_open = false;
	self_state.cut = false;
	self_state.obj_live = false;
	self_state.busy = 0;
	agent_self.held_line = 0;
}

void out_stdout_note(void)
{
	static int noted;
	int saved = errno;

	if (__atomic_load_n(&out_any_tagged, __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&noted, 1, __ATOMIC_RELAXED))
		return;
	agent_enter();
	DEBUG("stdout (fd 1) is written during requests and no tagged output has been: "
	      "the program seems to log to stdout, which is not tagged "
	      "(REQCTX_TAG=stdout or stdout,stderr tags it)");
	agent_leave();
	errno = saved;
}
