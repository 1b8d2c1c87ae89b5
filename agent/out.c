/*
 * out.c - line assembly and the tagged write.
 *
 * Per thread: the bytes of an unfinished line (already counted as written
 * to the program) in `held`, and whether the current line's head is out.
 * A write builds a plan of pieces - held bytes, heads, the program's bytes
 * (or their JSON escapes) - issues one writev under the output lock, and
 * settles the count with what the kernel took. The output lock keeps one
 * thread's line from being cut by another's, even past PIPE_BUF.
 *
 * Must never: allocate, call an interposed function by name, or wait on a
 * lock when called from a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/lock.h"
#include "agent/config.h"
#include "base/ctx.h"
#include "agent/format.h"
#include "agent/out.h"
#include "base/real.h"

#define OUT_PIECES 128

struct out_state {
	struct out_state *next, *prev;
	int busy;                 /* atomic: the owner or a flusher works on it */
	bool registered;
	bool gone;                /* the thread is exiting: write straight through */
	bool line_open;           /* the current line's head is out (or held) */
	int fd;                   /* where the held bytes go */
	size_t len;               /* held bytes */
	char held[OUT_HOLD];
	char esc[OUT_ESC];
};

enum piece_kind {
	P_HELD,     /* bytes already counted to the program */
	P_HEAD,     /* ours: counts nothing */
	P_RAW,      /* the program's own bytes, counted as far as written */
	P_ATOM,     /* an escape standing for `app` program bytes: all or hold */
};

struct piece {
	const char *p;
	size_t len, app;
	uint8_t kind;
	bool open_after;          /* line_open once this piece is fully out */
};

static AGENT_TLS struct out_state self_state;
AGENT_TLS char out_has_held;

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static struct out_state *registry;
static volatile int final_flush_done;
static pthread_key_t exit_key;
static bool exit_key_ok;
static dev_t err_dev;
static ino_t err_ino;
static bool err_known;
static bool err_is_log = true;    /* fd 2 is the log (see out_set_parent_log) */
static bool parent_log;
static dev_t parent_dev;
static ino_t parent_ino;

static pthread_mutex_t reg_mutex = PTHREAD_MUTEX_INITIALIZER;

static void reg_acquire(void)
{
	agent_lock(&reg_mutex);
}

/* From a signal handler: never wait (the interrupted code may hold it). */
static bool reg_try(void)
{
	return pthread_mutex_trylock(&reg_mutex) == 0;
}

static void reg_release(void)
{
	pthread_mutex_unlock(&reg_mutex);
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

void out_init(void)
{
	exit_key_ok = pthread_key_create(&exit_key, thread_exit_hook) == 0;
	out_stderr_changed();
}

void out_stderr_changed(void)
{
	struct stat st;

	err_known = fstat(2, &st) == 0;
	if (err_known) {
		err_dev = st.st_dev;
		err_ino = st.st_ino;
	}
	if (parent_log) {
		err_is_log = err_known && err_dev == parent_dev && err_ino == parent_ino;
		err_known = true;
		err_dev = parent_dev;
		err_ino = parent_ino;
	}
}

void out_set_parent_log(dev_t dev, ino_t ino)
{
	parent_log = true;
	parent_dev = dev;
	parent_ino = ino;
	out_stderr_changed();
}

bool out_log_identity(dev_t *dev, ino_t *ino)
{
	*dev = err_dev;
	*ino = err_ino;
	return err_known;
}

bool out_is_stderr_file(int fd)
{
	struct stat st;

	if (fd == 2)
		return err_is_log;
	if (fd == 1 || !err_known || fstat(fd, &st) != 0)
		return false;
	return st.st_dev == err_dev && st.st_ino == err_ino;
}

/* This thread's state, registered on first use. Uses no allocation, so a
 * signal handler's first write is safe. */
static struct out_state *state(void)
{
	struct out_state *st = &self_state;

	if (!st->registered) {
		reg_acquire();
		st->prev = NULL;
		st->next = registry;
		if (registry)
			registry->prev = st;
		registry = st;
		st->registered = true;
		reg_release();
		if (exit_key_ok)
			pthread_setspecific(exit_key, st);
	}
	return st;
}

static void claim(struct out_state *st)
{
	int zero = 0;

	while (!__atomic_compare_exchange_n(&st->busy, &zero, 1, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		zero = 0;
}

static bool try_claim(struct out_state *st)
{
	int zero = 0;

	return __atomic_compare_exchange_n(&st->busy, &zero, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void release(struct out_state *st)
{
	if (st == &self_state)
		out_has_held = st->len != 0;
	__atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
}

static ssize_t locked_writev(int fd, const struct iovec *v, int n, bool may_wait)
{
	ssize_t r;
	int saved;
	bool locked = may_wait ? agent_lock(&io_lock) == 0
			       : pthread_mutex_trylock(&io_lock) == 0;

	r = REAL(writev)(fd, v, n);
	saved = errno;
	if (locked)
		pthread_mutex_unlock(&io_lock);
	errno = saved;
	return r;
}

static bool nonblocking(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/* Writes the held bytes. Returns false when the kernel refused them. */
static bool flush_held(struct out_state *st, bool may_wait)
{
	while (st->len) {
		struct iovec v = { st->held, st->len };
		ssize_t r = locked_writev(st->fd, &v, 1, may_wait);

		if (r < 0 && errno == EINTR && may_wait)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return false;
		if (r <= 0) {
			st->len = 0;     /* fd gone or broken: nothing will take them */
			return false;
		}
		memmove(st->held, st->held + r, st->len - (size_t)r);
		st->len -= (size_t)r;
	}
	return true;
}

/* A JSON object cannot stay open across the end of the process or a switch
 * of fd: close it (its message then lacks the newline). A text line simply
 * continues where it stopped. */
static void finish_line(struct out_state *st)
{
	if (agent_config->output != CFG_OUTPUT_JSON || !st->line_open)
		return;
	if (st->len + FMT_JSON_END_LEN > OUT_HOLD)
		flush_held(st, true);
	if (st->len + FMT_JSON_END_LEN <= OUT_HOLD) {
		memcpy(st->held + st->len, FMT_JSON_END, FMT_JSON_END_LEN);
		st->len += FMT_JSON_END_LEN;
	}
	st->line_open = false;
}

/* Bytes after position (i, off) in the iovec array: any at all? */
static bool more_after(const struct iovec *iov, int iovcnt, int i, size_t off)
{
	if (off < iov[i].iov_len)
		return true;
	for (i++; i < iovcnt; i++)
		if (iov[i].iov_len)
			return true;
	return false;
}

/* Bytes from (i, off) to the end: returns what holding them takes (their
 * JSON escape in JSON mode) and sets *app to the program's bytes. */
static size_t tail_size(const struct iovec *iov, int iovcnt, int i, size_t off,
			bool json, size_t *app)
{
	size_t need = 0, n = 0;

	for (; i < iovcnt; i++, off = 0) {
		const char *p = (const char *)iov[i].iov_base + off;
		size_t len = iov[i].iov_len - off;

		n += len;
		need += json ? fmt_escape_len(p, len) : len;
	}
	*app = n;
	return need;
}

/* The write itself; `st` is claimed and belongs to `fd`. */
static ssize_t emit(struct out_state *st, int fd, const struct iovec *iov, int iovcnt)
{
	const struct config *cfg = agent_config;
	bool json = cfg->output == CFG_OUTPUT_JSON;
	char head[FMT_HEAD_MAX];
	size_t headlen = 0, done = 0;
	bool head_ready = false;
	int vi = 0, tvi = -1;
	size_t voff = 0, toff = 0;

	/* The unfinished tail starts after the last newline (tvi, toff). */
	for (int i = iovcnt - 1; i >= 0; i--) {
		const char *nl = iov[i].iov_len ? memrchr(iov[i].iov_base, '\n', iov[i].iov_len) : NULL;

		if (nl) {
			tvi = i;
			toff = (size_t)(nl - (const char *)iov[i].iov_base) + 1;
			break;
		}
	}

	for (;;) {
		struct piece pc[OUT_PIECES];
		struct iovec v[OUT_PIECES];
		int np = 0, cvi = vi;
		size_t cvoff = voff, esc_used = 0, rem;
		bool open = st->line_open, newopen, hold = false, complete, tail_tried = false;
		int tail_vi = 0;
		size_t tail_off = 0, tail_len = 0, app = 0;
		ssize_t r;

#define ADD(ptr, n, a, k, oa) do { \
		pc[np] = (struct piece){ (ptr), (n), (a), (k), (oa) }; \
		v[np].iov_base = (void *)(ptr); v[np].iov_len = (n); np++; } while (0)

		if (st->len)
			ADD(st->held, st->len, 0, P_HELD, open);
		while (cvi < iovcnt && np < OUT_PIECES - 3) {
			const char *p, *nl;
			size_t avail, seg;
			bool ends;

			if (cvoff >= iov[cvi].iov_len) {
				cvi++;
				cvoff = 0;
				continue;
			}
			p = (const char *)iov[cvi].iov_base + cvoff;
			avail = iov[cvi].iov_len - cvoff;
			nl = memchr(p, '\n', avail);
			seg = nl ? (size_t)(nl - p) + 1 : avail;
			ends = nl != NULL;
			if (!head_ready && !open) {
				headlen = fmt_head(head, sizeof head, cfg, ctx_current());
				head_ready = true;
			}
			if (!tail_tried && (cvi > tvi || (cvi == tvi && cvoff >= toff))) {
				/* The unfinished end of the write: hold it if it fits,
				 * next to what is held already when nothing else goes
				 * out now, or alone after the lines that do. */
				size_t need = (open ? 0 : headlen) +
					      tail_size(iov, iovcnt, cvi, cvoff, json, &tail_len);
				bool alone = np == (st->len ? 1 : 0);

				tail_tried = true;
				if ((alone ? st->len + need : need) <= OUT_HOLD) {
					hold = true;
					tail_vi = cvi;
					tail_off = cvoff;
					cvi = iovcnt;
					cvoff = 0;
					break;
				}
			}
			if (!open) {
				if (headlen)
					ADD(head, headlen, 0, P_HEAD, true);
				open = true;
			}
			if (!json) {
				ADD(p, seg, seg, P_RAW, !ends);
				cvoff += seg;
				open = !ends;
				continue;
			}
			{
				size_t body = ends ? seg - 1 : seg, used;
				size_t room = OUT_ESC - esc_used;
				/* An escape piece must fit `held` if it is cut. */
				size_t w = fmt_escape(st->esc + esc_used,
						      room < OUT_HOLD ? room : OUT_HOLD,
						      p, body, &used);

				if (w)
					ADD(st->esc + esc_used, w, used, P_ATOM, true);
				esc_used += w;
				cvoff += used;
				if (used < body)
					break;        /* scratch full: the rest next round */
				if (ends) {
					ADD(FMT_JSON_END, FMT_JSON_END_LEN, 1, P_ATOM, false);
					cvoff += 1;
					open = false;
				}
			}
		}
#undef ADD

		if (hold && np == (st->len ? 1 : 0)) {
			/* Only more of the unfinished line: no system call, the
			 * held bytes stay held. */
			np = 0;
			r = 0;
		} else if (np == 0) {
			r = 0;
		} else {
			r = locked_writev(fd, v, np, true);
			if (r < 0) {
				int err = errno;

				if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
					st->len = 0;       /* the fd is gone or broken */
					st->line_open = false;
				}
				if (done)
					return (ssize_t)done;
				errno = err;
				return -1;
			}
		}

		/* Settle: which pieces the kernel took. */
		rem = (size_t)r;
		newopen = st->line_open;
		complete = true;
		for (int k = 0; k < np; k++) {
			struct piece *q = &pc[k];

			if (rem >= q->len) {
				rem -= q->len;
				app += q->app;
				newopen = q->open_after;
				if (q->kind == P_HELD)
					st->len = 0;
				continue;
			}
			complete = false;
			switch (q->kind) {
			case P_HELD:
				memmove(st->held, st->held + rem, st->len - rem);
				st->len -= rem;
				break;
			case P_HEAD:
			case P_ATOM:
				/* Part of an indivisible piece is out: the rest is
				 * owed before anything else, and counts as written. */
				memcpy(st->held, q->p + rem, q->len - rem);
				st->len = q->len - rem;
				st->fd = fd;
				app += q->app;
				newopen = q->open_after;
				break;
			case P_RAW:
				app += rem;
				if (rem)
					newopen = true;
				break;
			}
			break;
		}
		st->line_open = newopen;
		done += app;

		if (!complete) {
			if (done)
				return (ssize_t)done;
			/* Only our own bytes went out. Non-blocking: the pipe is
			 * full. Blocking: a signal cut the write short; the program
			 * sees it interrupted before any of its bytes, as EINTR (the
			 * rest of ours goes out first on its next write). */
			errno = r == 0 || nonblocking(fd) ? EAGAIN : EINTR;
			return -1;
		}
		if (hold) {
			if (!st->line_open) {
				memcpy(st->held + st->len, head, headlen);
				st->len += headlen;
				st->line_open = true;
			}
			for (int i = tail_vi; i < iovcnt; i++) {
				const char *tp = (const char *)iov[i].iov_base + (i == tail_vi ? tail_off : 0);
				size_t tn = iov[i].iov_len - (i == tail_vi ? tail_off : 0), used;

				if (json) {
					st->len += fmt_escape(st->held + st->len, OUT_HOLD - st->len,
							      tp, tn, &used);
				} else {
					memcpy(st->held + st->len, tp, tn);
					st->len += tn;
				}
			}
			st->fd = fd;
			done += tail_len;
		}
		vi = cvi;
		voff = cvoff;
		if (hold || cvi >= iovcnt || !more_after(iov, iovcnt, cvi, cvoff))
			return (ssize_t)done;
	}
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

ssize_t out_write(int fd, const struct iovec *iov, int iovcnt)
{
	struct out_state *st;
	size_t total = 0;
	ssize_t r;
	int saved;

	if (iovcnt <= 0 || iovcnt > IOV_MAX || final_flush_done || self_state.gone ||
	    in_signal_handler())
		return REAL(writev)(fd, iov, iovcnt);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return REAL(writev)(fd, iov, iovcnt);   /* the kernel's EINVAL */
		total += iov[i].iov_len;
	}
	if (total == 0)
		return REAL(writev)(fd, iov, iovcnt);
	st = state();
	claim(st);
	if (st->fd != fd) {
		/* Another fd: what this thread started elsewhere ends here. */
		if (st->len) {
			finish_line(st);
			flush_held(st, true);
		}
		st->len = 0;
		st->line_open = false;
		st->fd = fd;
	}
	r = emit(st, fd, iov, iovcnt);
	saved = errno;
	release(st);
	errno = saved;
	return r;
}

int out_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		struct iovec v = { (void *)p, n };
		ssize_t r = out_write(fd, &v, 1);

		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void out_flush_thread(void)
{
	struct out_state *st = &self_state;
	int saved = errno;

	if (!st->registered || st->len == 0)
		return;
	claim(st);
	flush_held(st, true);
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
	finish_line(st);
	flush_held(st, true);
	st->len = 0;
	reg_acquire();
	if (st->prev)
		st->prev->next = st->next;
	else
		registry = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->registered = false;
	st->gone = true;          /* its TLS goes away soon: never register again */
	reg_release();
	release(st);
	errno = saved;
}

void out_flush_all(bool finish, bool from_signal)
{
	int saved = errno;

	if (from_signal ? !reg_try() : (reg_acquire(), false))
		return;
	for (struct out_state *st = registry; st; st = st->next) {
		if (!try_claim(st)) {
			if (from_signal)
				continue;    /* interrupted mid-write: leave it */
			claim(st);
		}
		if (finish)
			finish_line(st);
		flush_held(st, !from_signal);
		release(st);
	}
	reg_release();
	errno = saved;
}

void out_final(void)
{
	out_flush_all(true, false);
	final_flush_done = 1;
}

void out_fd_closing(int fd)
{
	struct out_state *st = &self_state;

	if (st->registered && st->len && st->fd == fd)
		out_flush_thread();
}

/* Across fork, held bytes stay with the parent, which writes them when
 * their line ends; the child drops its copy and starts its own lines. So
 * nothing is written twice, and nothing has to be written early. */
void out_prepare_fork(void)
{
	agent_lock(&io_lock);
	reg_acquire();
}

void out_after_fork_parent(void)
{
	reg_release();
	pthread_mutex_unlock(&io_lock);
}

void out_after_fork_child(void)
{
	/* Only the forking thread exists here: forget the others' states. */
	pthread_mutex_init(&io_lock, NULL);
	pthread_mutex_init(&reg_mutex, NULL);
	registry = NULL;
	if (self_state.registered) {
		self_state.next = self_state.prev = NULL;
		registry = &self_state;
	}
	self_state.len = 0;
	self_state.line_open = false;
	self_state.busy = 0;
	out_has_held = 0;
}
