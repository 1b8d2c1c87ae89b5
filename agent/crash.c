/*
 * crash.c - builds each report line by hand (decimal, hex, names) and
 * writes it through the same head as any tagged line, so in JSON mode the
 * report is JSON too. Frames come from libunwind's local unwinder started
 * at the signal frame; unw_step and unw_get_proc_name are signal-safe for
 * the local address space.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
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
	if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) {
		adds(&l, " at address ");
		addx(&l, (unsigned long)info->si_addr);
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
	for (int i = 0; i < CRASH_FRAMES; i++) {
		unw_word_t ip = 0, off = 0;
		char sym[256];

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		l.n = 0;
		adds(&l, "reqctx:   #");
		addu(&l, (unsigned long)i);
		adds(&l, " ");
		addx(&l, (unsigned long)ip);
		if (unw_get_proc_name(&cur, sym, sizeof sym, &off) == 0) {
			adds(&l, " ");
			adds(&l, sym);
			adds(&l, "+");
			addx(&l, (unsigned long)off);
		}
		emit(l.buf, l.n);
		if (unw_step(&cur) <= 0)
			break;
	}
}
