/*
 * out_fd.c - the log's identity and the fd-table events that change which
 * fds are logs (see out_fd.h for the rules). Every system call of the
 * output rules is made here, at those events (an fstat per open while a
 * log is known, one per redirection), none on the write path.
 *
 * Must never: run on the write path; write anything to an fd it does not
 * own.
 */
#include <errno.h>
#include <sys/stat.h>

#include "base/debug.h"
#include "base/lock.h"
#include "agent/config.h"
#include "agent/out.h"
#include "agent/out_path.h"
#include "agent/out_fd.h"
#include "agent/relay.h"
#include "agent/spans.h"

/* The log's file: written at start-up and at redirections, read at opens,
 * under `id_lock` (a few loads and stores). */
static int id_lock;
static bool log_known;
static dev_t log_dev;
static ino_t log_ino;

static void set_kind(int fd, enum fd_kind k)
{
	struct fdslot *s = fdmap_slot(fd);

	if (s)
		__atomic_store_n(&s->kind, (uint8_t)k, __ATOMIC_RELEASE);
}

/* Learns fd 2's file as the log. Returns whether fd 2 is open; *same
 * (when not NULL): whether it is the file the log was before (a program
 * restoring a saved copy of its stderr). */
static bool learn_log(bool *same)
{
	struct stat st;
	int saved = errno;
	bool ok = fstat(2, &st) == 0;

	errno = saved;             /* fd 2 closed: the program sees no EBADF */

	spin_lock(&id_lock);
	if (same)
		*same = ok && log_known && st.st_dev == log_dev && st.st_ino == log_ino;
	log_known = ok;
	if (ok) {
		log_dev = st.st_dev;
		log_ino = st.st_ino;
	}
	spin_unlock(&id_lock);
	return ok;
}

static bool is_log_file(int fd)
{
	struct stat st;
	int saved = errno;
	bool same;

	if (fstat(fd, &st) != 0) {
		errno = saved;
		return false;
	}
	spin_lock(&id_lock);
	same = log_known && st.st_dev == log_dev && st.st_ino == log_ino;
	spin_unlock(&id_lock);
	return same;
}

/* fd 1's file while it is tagged (REQCTX_TAG=stdout), under `id_lock`. */
static bool out_known;
static dev_t out_dev;
static ino_t out_ino;

/* Learns fd 1's file as tagged output, or forgets it; *same as
 * learn_log()'s. */
static void learn_stdout(bool tagged, bool *same)
{
	struct stat st;
	int saved = errno;
	bool ok = tagged && fstat(1, &st) == 0;

	errno = saved;
	spin_lock(&id_lock);
	if (same)
		*same = ok && out_known && st.st_dev == out_dev && st.st_ino == out_ino;
	out_known = ok;
	if (ok) {
		out_dev = st.st_dev;
		out_ino = st.st_ino;
	}
	spin_unlock(&id_lock);
}

static void set_stdout(bool tagged)
{
	learn_stdout(tagged, NULL);
	set_kind(1, tagged ? FD_OUTPUT : FD_PLAIN);
}

static bool parent_log;         /* started by a parent under the agent */
static bool in_request_start;   /* ... inside a request (out_fd_started_in_request) */
/* The stdout the parent tagged, when it tagged one (under id_lock). */
static bool pout_known;
static dev_t pout_dev;
static ino_t pout_ino;

void out_fd_forked(void)
{
	parent_log = true;
	/* The parent's tagged stdout is the one this copy of it had. */
	pout_known = out_known;
	pout_dev = out_dev;
	pout_ino = out_ino;
}

void out_fd_started_in_request(void)
{
	in_request_start = true;
}

void out_parent_tagged_nothing(void)
{
	parent_log = true;
	if (agent_config->tag_stdout)
		set_stdout(false);
}

void out_set_parent_log(dev_t dev, ino_t ino, dev_t odev, ino_t oino)
{
	parent_log = true;
	struct stat st;
	int saved = errno;
	bool same = fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
	bool out_same = agent_config->tag_stdout && fstat(1, &st) == 0 &&
			((oino != 0 && st.st_dev == odev && st.st_ino == oino) ||
			 (st.st_dev == dev && st.st_ino == ino));

	errno = saved;
	spin_lock(&id_lock);
	log_known = true;
	log_dev = dev;
	log_ino = ino;
	pout_known = oino != 0;
	pout_dev = odev;
	pout_ino = oino;
	spin_unlock(&id_lock);
	/* A captured stderr (a pipe the parent reads) is data, not a log. */
	set_kind(2, same ? FD_OUTPUT : FD_PLAIN);
	/* So is a captured stdout. */
	if (agent_config->tag_stdout)
		set_stdout(out_same);
}

bool out_fd_same_file(int a, int b)
{
	bool same;

	if (!((a == 1 && b == 2) || (a == 2 && b == 1)))
		return false;
	spin_lock(&id_lock);
	same = log_known && out_known && log_dev == out_dev && log_ino == out_ino;
	spin_unlock(&id_lock);
	return same;
}

bool out_log_identity(dev_t *dev, ino_t *ino)
{
	bool known;

	spin_lock(&id_lock);
	known = log_known;
	*dev = log_dev;
	*ino = log_ino;
	spin_unlock(&id_lock);
	return known;
}

bool out_stdout_identity(dev_t *dev, ino_t *ino)
{
	bool known;

	spin_lock(&id_lock);
	known = out_known;
	*dev = out_dev;
	*ino = out_ino;
	spin_unlock(&id_lock);
	return known;
}

void out_fd_init(void)
{
	/* REQCTX_TAG without stderr: fd 2's file is no log at all. */
	if (agent_config->tag_stderr && learn_log(NULL))
		set_kind(2, FD_OUTPUT);
	if (agent_config->tag_stdout)
		set_stdout(true);
	else
		set_kind(1, FD_STDOUT);
	/* The diagnostics fd gets a slot, so that every event on its number
	 * is seen. */
	if (debug_fd >= 0)
		fdmap_slot(debug_fd);
}

static void opened(int fd, bool writable)
{
	if (fd < 0)
		return;
	if (unlikely(fd == debug_fd))
		debug_lost(fd, false);        /* closed behind our back: not ours */
	if (fd == 1)
		return;
	/* Plain files are remembered as such: a redirection looks at them. */
	set_kind(fd, writable && __atomic_load_n(&log_known, __ATOMIC_RELAXED) && is_log_file(fd)
		     ? FD_OUTPUT : FD_PLAIN);
	relay_opened(fd);      /* a php-fpm worker's error_log on its stderr pipe */
}

void out_fd_opened(int fd)
{
	opened(fd, true);
}

void out_fd_opened_path(int fd, int dirfd, const char *path, bool writable)
{
	struct fdslot *s;

	opened(fd, writable);
	if (fd < 0 || agent_config->tag_npaths == 0 || !out_path_tagged(agent_config, dirfd, path))
		return;
	s = fdmap_slot(fd);
	if (s)
		__atomic_store_n(&s->kind, (uint8_t)FD_OUTPUT, __ATOMIC_RELEASE);
}

void out_fd_closing(int fd)
{
	if (unlikely(fd == debug_fd && fd >= 0))
		debug_lost(fd, true);
	if (unlikely(fd == spans_fd && fd >= 0))
		spans_fd_event(fd);
	out_flush_fd(fd);
}

void out_fd_close_failed(int fd)
{
	out_flush_fd_undo(fd);
}

void out_fd_closing_range(unsigned first, unsigned last)
{
	for (unsigned fd = first; fd <= last && fd < (unsigned)FDMAP_CHUNKS << FDMAP_CHUNK_BITS; fd++) {
		struct fdslot *s = fdmap_peek((int)fd);

		if (s == NULL) {
			fd |= (1u << FDMAP_CHUNK_BITS) - 1;   /* skip the empty chunk */
			continue;
		}
		if (fdmap_kind(s) == FD_OUTPUT || (int)fd == debug_fd || (int)fd == spans_fd)
			out_fd_closing((int)fd);
	}
}

/* fds classified as plain files at their open may be open on the new log:
 * looked at once, now. */
static void reclassify_plain(bool stdout_too)
{
	for (unsigned fd = 0; fd < (unsigned)FDMAP_CHUNKS << FDMAP_CHUNK_BITS; fd++) {
		struct fdslot *s = fdmap_peek((int)fd);

		if (s == NULL) {
			fd |= (1u << FDMAP_CHUNK_BITS) - 1;   /* skip the empty chunk */
			continue;
		}
		/* fd 1 too where it is a copy the program made of a plain file
		 * (FD_PLAIN: as started it is FD_STDOUT, and with
		 * REQCTX_TAG=stdout its redirects are decided at the dup2,
		 * out_redirect_kind), outside any request: `dup2(f, 1);
		 * dup2(f, 2)` at a worker's start tags it as `dup2(f, 2);
		 * dup2(f, 1)` does (before, gunicorn's --capture-output left
		 * its access lines in the error log bare: a trial, 300 of
		 * 300); FD_UNKNOWN there is a file the program opened or
		 * freopen()ed on fd 1 itself (`freopen(path, "w", stdout);
		 * dup2(1, 2)`: a trial, its stdout lines bare). Inside a
		 * request it is a capture of the program's own output
		 * (pytest's capfd), whose stdout is data (a trial: the
		 * captured stdout prefixed). */
		if (fd != 2 && (fd != 1 || (!agent_config->tag_stdout && stdout_too)) &&
		    (fdmap_kind(s) == FD_PLAIN || (fd == 1 && fdmap_kind(s) == FD_UNKNOWN)) &&
		    is_log_file((int)fd))
			__atomic_store_n(&s->kind, FD_OUTPUT, __ATOMIC_RELEASE);
	}
}

/* `fd` is on the log (the parent's, or the file the process made its
 * stderr since) or on the stdout its parent tagged (out_set_parent_log). */
static bool on_parent_output(int fd)
{
	struct stat st;
	int saved = errno;
	bool on = false;

	if (fstat(fd, &st) == 0) {
		spin_lock(&id_lock);
		on = (log_known && log_ino != 0 && st.st_dev == log_dev && st.st_ino == log_ino) ||
		     (pout_known && st.st_dev == pout_dev && st.st_ino == pout_ino);
		spin_unlock(&id_lock);
	}
	errno = saved;
	return on;
}

/* `fd` was just made a pipe or a socket by a redirection: a child pointing
 * its output at a pipe or socket while it runs (a shell's 2>&1 under popen,
 * subprocess's captured output) hands it to someone who reads it as data,
 * never a log. So is a regular file or a character device (a terminal) in
 * a process started inside a request (out_fd_started_in_request). One
 * fstat, at the redirection only. */
static bool redirected_to_data(int fd)
{
	struct stat st;
	int saved = errno;
	bool data;

	/* Only in a process started by a parent under the agent (by exec
	 * with REQCTX_PARENT, or a fork child: libuv's, or a spawn with a
	 * pre-exec hook, points the child's fd 2 at the pipe or socket the
	 * parent reads before it execs the program): that parent reads what
	 * comes back through it. A program that points its own stderr at a
	 * pipe it reads itself keeps its log. */
	if (!parent_log)
		return false;
	data = fstat(fd, &st) == 0 &&
	       (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
		(in_request_start && (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))));
	if (data) {
		/* Pointed at its own log (a shell's `echo ... >&2`, which
		 * puts fd 2's pipe on fd 1 for the builtin): still the log. */
		spin_lock(&id_lock);
		data = !(log_known && st.st_dev == log_dev && st.st_ino == log_ino) &&
		       !(out_known && st.st_dev == out_dev && st.st_ino == out_ino);
		spin_unlock(&id_lock);
	}

	errno = saved;
	return data;
}

int out_redirect_kind(int fd, bool *same)
{
	bool tagged;

	if (same)
		*same = false;

	if (fd == 2) {
		if (!agent_config->tag_stderr)
			return -1;
		if (redirected_to_data(2))
			return FD_PLAIN;
		return learn_log(same) ? FD_OUTPUT : -1;
	}
	if (fd != 1 || !agent_config->tag_stdout)
		return -1;
	/* In a child of a program under the agent, fd 1 is a log only on the
	 * parent's tagged stdout or log (a shell's `echo >&2` puts the log
	 * there for the builtin); a file a shell's `>` puts there is data. */
	tagged = parent_log ? on_parent_output(1) : !redirected_to_data(1);
	learn_stdout(tagged, same);
	return tagged ? FD_OUTPUT : FD_PLAIN;
}

void out_redirected(int fd, int kind, bool same)
{
	if (kind != FD_OUTPUT)
		return;
	/* The same file again: the lines the redirect's flush ended go on
	 * there, with no second head (before, a line written around the
	 * restore of a saved copy of stderr got one mid-line). */
	if (same)
		out_flush_fd_undo(fd);
	if (fd == 2)
		reclassify_plain(agent_self.cur == NULL);
}

