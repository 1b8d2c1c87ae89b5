/*
 * crash.c - builds each report line by hand (decimal, hex, names) and
 * writes it through the same head as any tagged line, so in JSON mode the
 * report is JSON too. Frames come from libunwind's local unwinder started
 * at the signal frame; unw_step, unw_get_proc_info and unw_get_proc_name
 * are signal-safe for the local address space. Each frame names its
 * object and the offset in it, read from /proc/self/maps with plain
 * system calls, and a function name only where the unwind tables confirm
 * it: a stripped library's nearest exported symbol is often another
 * function's (libc's internal ones showed as pthread_key_delete+0x14c).
 */
#define UNW_LOCAL_ONLY
#include <fcntl.h>
#include <libunwind.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/crash.h"
#include "base/ctx.h"
#include "agent/format.h"
#include "base/real.h"
#include "ctxmap/fdmap.h"

#define CRASH_FRAMES 48


struct line {
	char buf[2048];
	size_t n;
};

static void add(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->buf - l->n)
		n = sizeof l->buf - l->n;
	memcpy(l->buf + l->n, s, n);
	l->n += n;
}

static void adds(struct line *l, const char *s)
{
	add(l, s, strlen(s));
}

static void addu(struct line *l, unsigned long v)
{
	char t[24];
	size_t n = 0;

	do {
		t[sizeof t - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	add(l, t + sizeof t - n, n);
}

static void addx(struct line *l, unsigned long v)
{
	static const char d[] = "0123456789abcdef";
	char t[18];
	size_t n = 0;

	do {
		t[sizeof t - 1 - n++] = d[v & 15];
		v >>= 4;
	} while (v);
	adds(l, "0x");
	add(l, t + sizeof t - n, n);
}

/* One frame of the report: where it is, in which object, and its
 * function when confirmed. Static, as the handler may run on a small
 * alternate stack; one report at a time (`busy`): a second thread that
 * dies meanwhile reports frames by address alone. */
struct frame {
	unsigned long ip, off, sym_off;
	char obj[256];              /* the object's path, "" when not known */
	char sym[128];              /* "" when not known or not confirmed */
};

static struct frame frames[CRASH_FRAMES];
static int busy;

/* A maps line's path field p[0..n), whole (what addr2line -e takes), or
 * "" when it does not fit. */
static void copy_path(char *dst, size_t cap, const char *p, size_t n)
{
	if (n >= cap)
		n = 0;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static unsigned long hex_at(const char **p, const char *end)
{
	unsigned long v = 0;

	for (; *p < end; (*p)++) {
		char ch = **p;
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;

		if (d < 0)
			break;
		v = v << 4 | (unsigned long)d;
	}
	return v;
}

/* Past `fields` space-separated fields from *p, to the next one's start. */
static const char *skip_fields(const char *p, const char *end, int fields)
{
	for (int f = 0; f < fields; f++) {
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != ' ')
			p++;
	}
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* The object whose mapping at file offset 0 was seen last (its ELF
 * header): its path, where it starts, and whether it is an executable
 * not built position-independent (ET_EXEC, loaded where it was linked). */
static char base_path[256];
static size_t base_len;
static unsigned long base_lo;
static bool base_exec;

/* One line of /proc/self/maps, l[0..n): "start-end perms offset dev inode
 * path": every frame inside a mapping of a file gets its name, and the
 * address addr2line takes for it: the offset from the object's start
 * (its mapping at offset 0, listed first), or the address itself in an
 * ET_EXEC executable; the file offset where the object's start was not
 * seen. */
static void maps_line(const char *l, size_t n, int nframes)
{
	const char *p = l, *end = l + n, *path, *perms;
	unsigned long lo, hi, off;
	size_t plen;
	bool same;

	lo = hex_at(&p, end);
	if (p == end || *p++ != '-')
		return;
	hi = hex_at(&p, end);
	perms = skip_fields(p, end, 0);
	p = skip_fields(p, end, 1);
	off = hex_at(&p, end);
	path = skip_fields(p, end, 2);          /* dev and inode */
	if (path == end || *path != '/')
		return;
	plen = (size_t)(end - path);
	if (off == 0 && plen < sizeof base_path && perms < end && *perms == 'r' && hi - lo >= 64) {
		const unsigned char *elf = (const unsigned char *)lo;

		memcpy(base_path, path, plen);
		base_len = plen;
		base_lo = lo;
		/* e_type, at 16 in the header, little-endian: 2 is ET_EXEC */
		base_exec = memcmp(elf, "\177ELF", 4) == 0 && elf[16] == 2 && elf[17] == 0;
	}
	same = base_len == plen && memcmp(base_path, path, plen) == 0;
	for (int i = 0; i < nframes; i++)
		if (frames[i].ip >= lo && frames[i].ip < hi) {
			copy_path(frames[i].obj, sizeof frames[i].obj, path, plen);
			frames[i].off = !same ? frames[i].ip - lo + off :
					base_exec ? frames[i].ip : frames[i].ip - base_lo;
		}
}

/* The objects of the frames, from /proc/self/maps read in one pass (raw
 * system calls: nothing of the program's or the C library's state). */
static void frame_objects(int nframes)
{
	static char chunk[4096], line[512];
	size_t ln = 0;
	bool too_long = false;
	long fd = REAL(syscall)(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (;;) {
		long r = REAL(syscall)(SYS_read, (int)fd, chunk, sizeof chunk);

		if (r <= 0)
			break;
		for (long k = 0; k < r; k++) {
			if (chunk[k] == '\n') {
				maps_line(line, ln, nframes);
				ln = 0;
				too_long = false;
			} else if (ln < sizeof line) {
				line[ln++] = chunk[k];
			} else if (!too_long) {
				too_long = true;     /* a path cut short: its name is not known */
				ln = 0;
			}
		}
	}
	REAL(syscall)(SYS_close, (int)fd);
}

/* Writes one message as a complete line, with the crashing thread's head. */
static void emit(const char *msg, size_t n)
{
	const struct config *cfg = agent_config;
	char out[4096];
	size_t o = fmt_head(out, sizeof out, cfg, agent_self.cur), used;

	if (cfg->output == CFG_OUTPUT_JSON) {
		o += fmt_escape(out + o, sizeof out - o - FMT_JSON_END_LEN, msg, n, &used);
		memcpy(out + o, FMT_JSON_END, FMT_JSON_END_LEN);
		o += FMT_JSON_END_LEN;
	} else {
		if (n > sizeof out - o - 1)
			n = sizeof out - o - 1;
		memcpy(out + o, msg, n);
		o += n;
		out[o++] = '\n';
	}
	REAL(write)(2, out, o);
}

/* A second report at once: frames by address alone. */
static void frames_by_address(unw_cursor_t *cur)
{
	struct line l;

	for (int i = 0; i < CRASH_FRAMES; i++) {
		unw_word_t ip = 0;

		if (unw_get_reg(cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		l.n = 0;
		adds(&l, "reqctx:   #");
		addu(&l, (unsigned long)i);
		adds(&l, " ");
		addx(&l, (unsigned long)ip);
		emit(l.buf, l.n);
		if (unw_step(cur) <= 0)
			break;
	}
}

void crash_report(int sig, const siginfo_t *info, void *ucontext)
{
	const char *name = sigabbrev_np(sig), *desc = sigdescr_np(sig);
	const struct fdslot *err = fdmap_peek(2);
	struct ctx *c = agent_self.cur;
	unw_cursor_t cur;
	struct line l = { .n = 0 };

	/* fd 2 is data (a pipe or socket the parent captures, out_fd.c): a
	 * report in it would change what the parent reads. */
	if (err != NULL && fdmap_kind(err) == FD_PLAIN)
		return;

	adds(&l, "reqctx: fatal signal SIG");
	adds(&l, name ? name : "?");
	adds(&l, " (");
	adds(&l, desc ? desc : "unknown");
	adds(&l, ")");
	/* A fault's address; a signal sent (kill, raise: si_code <= 0, a
	 * handler that raises it again, as faulthandler does) has none: its
	 * si_addr is the sender's pid. */
	if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) && info->si_code > 0) {
		adds(&l, " at address ");
		addx(&l, (unsigned long)info->si_addr);
	} else if (info->si_code <= 0) {
		adds(&l, " sent by pid ");
		addu(&l, (unsigned long)info->si_pid);
	}
	adds(&l, " in pid ");
	addu(&l, (unsigned long)agent_pid);
	adds(&l, " thread ");
	addu(&l, (unsigned long)agent_tid());
	if (c) {
		adds(&l, " serving request ");
		const struct ctx_name *nm = ctx_name(c);   /* one name, read once */

		add(&l, nm->id, nm->id_len);
	} else {
		adds(&l, " outside any request");
	}
	emit(l.buf, l.n);

	if (ucontext == NULL ||
	    unw_init_local2(&cur, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0)
		return;
	if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) {
		frames_by_address(&cur);
		return;
	}
	int n = 0;

	for (; n < CRASH_FRAMES; n++) {
		struct frame *f = &frames[n];
		unw_word_t ip = 0, off = 0;
		unw_proc_info_t pi;

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		f->ip = (unsigned long)ip;
		f->obj[0] = f->sym[0] = '\0';
		/* The name libunwind finds is the nearest symbol before ip; it
		 * is this function's only if it starts where the unwind
		 * tables say this function starts (or they say nothing). */
		if (unw_get_proc_name(&cur, f->sym, sizeof f->sym, &off) == 0 &&
		    (unw_get_proc_info(&cur, &pi) < 0 || pi.start_ip == 0 || pi.start_ip == ip - off))
			f->sym_off = (unsigned long)off;
		else
			f->sym[0] = '\0';
		if (unw_step(&cur) <= 0) {
			n++;
			break;
		}
	}
	frame_objects(n);
	for (int i = 0; i < n; i++) {
		const struct frame *f = &frames[i];

		l.n = 0;
		adds(&l, "reqctx:   #");
		addu(&l, (unsigned long)i);
		adds(&l, " ");
		addx(&l, f->ip);
		if (f->sym[0]) {
			adds(&l, " ");
			adds(&l, f->sym);
			adds(&l, "+");
			addx(&l, f->sym_off);
		}
		if (f->obj[0]) {
			adds(&l, " (");
			adds(&l, f->obj);
			adds(&l, "+");
			addx(&l, f->off);
			adds(&l, ")");
		}
		emit(l.buf, l.n);
	}
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}
