/*
 * real.c - finds the next definition of every interposed function.
 *
 * dlsym(RTLD_NEXT) is called here and nowhere else. A function that cannot
 * be found gets a stand-in of its return type that fails with ENOSYS, so a
 * hook never aborts and never calls through NULL. A missing REQUIRED
 * function switches the agent off (the host keeps running, every hook
 * passes through); a missing OPTIONAL one does not (real.h).
 *
 * agent_fail()'s reason goes to the REQCTX_DEBUG file only, never to the
 * host's stderr: an internal failure must not change the host's output.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>

#include "base/thread.h"
#include "base/real.h"

#define REAL_DEFINE(name, ret, args, need) ret (*real_##name) args;
REAL_FUNCTIONS(REAL_DEFINE)
#undef REAL_DEFINE

/* The first call of a shim's quick path that calls its pointer untested
 * (REAL_BOOTED): made before the pointer is resolved (another library's
 * constructor, or the program's preinit functions, reading or locking
 * before the agent's constructor ran), it resolves the pointer and makes
 * the call. Each pointer's definition completes its tentative one above
 * (C11 6.9.2). */
#define REAL_BOOT(name, ret, params, args) \
	static ret boot_##name params \
	{ \
		return ((ret (*) params)real_resolve(REAL_INDEX_##name)) args; \
	} \
	ret (*real_##name) params = boot_##name;

REAL_BOOT(read, ssize_t, (int fd, void *buf, size_t n), (fd, buf, n))
REAL_BOOT(readv, ssize_t, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))
REAL_BOOT(recv, ssize_t, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags))
REAL_BOOT(pthread_mutex_lock, int, (pthread_mutex_t *m), (m))
REAL_BOOT(pthread_mutex_trylock, int, (pthread_mutex_t *m), (m))
#undef REAL_BOOT

static const void *const boots[] = {
	(const void *)boot_read, (const void *)boot_readv, (const void *)boot_recv,
	(const void *)boot_pthread_mutex_lock, (const void *)boot_pthread_mutex_trylock,
};

/* Whether a pointer still waits for its resolution. */
static bool unresolved(const void *p)
{
	if (p == NULL)
		return true;
	for (size_t i = 0; i < sizeof boots / sizeof boots[0]; i++)
		if (p == boots[i])
			return true;
	return false;
}

/* One stand-in per return type: each fails the way its functions report
 * failure. A type not listed here does not compile (REAL_STANDIN). They
 * are called through the function's own pointer type and ignore its
 * arguments, which the calling convention leaves in registers (or on the
 * stack) for the callee to read or not. */
static int missing_int(void) { errno = ENOSYS; return -1; }
static ssize_t missing_ssize(void) { errno = ENOSYS; return -1; }
static size_t missing_size(void) { errno = ENOSYS; return 0; }
static unsigned missing_unsigned(void) { errno = ENOSYS; return 0; }
static FILE *missing_file(void) { errno = ENOSYS; return NULL; }
static void *missing_pointer(void) { errno = ENOSYS; return NULL; }
static char *missing_chars(void) { errno = ENOSYS; return NULL; }
static void missing_void(void) { errno = ENOSYS; }

#define REAL_STANDIN(ret) \
	_Generic((ret (*)(void))0, \
		 int (*)(void): (void (*)(void))missing_int, \
		 ssize_t (*)(void): (void (*)(void))missing_ssize, \
		 size_t (*)(void): (void (*)(void))missing_size, \
		 unsigned (*)(void): (void (*)(void))missing_unsigned, \
		 FILE *(*)(void): (void (*)(void))missing_file, \
		 void *(*)(void): (void (*)(void))missing_pointer, \
		 char *(*)(void): (void (*)(void))missing_chars, \
		 void (*)(void): missing_void)

#define REQUIRED false
#define OPTIONAL true

static const struct {
	void **slot;
	const char *name;
	void (*standin)(void);
	bool optional;
} table[REAL_COUNT] = {
#define REAL_ENTRY(name, ret, args, need) \
	[REAL_INDEX_##name] = { (void **)&real_##name, #name, REAL_STANDIN(ret), need },
	REAL_FUNCTIONS(REAL_ENTRY)
#undef REAL_ENTRY
};

void *real_resolve_as(enum real_index i, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		p = (void *)table[i].standin;
		if (!table[i].optional)
			agent_fail("a libc function could not be resolved");
	}
	__atomic_store_n(table[i].slot, p, __ATOMIC_RELEASE);
	return p;
}

void *real_resolve(enum real_index i)
{
	return real_resolve_as(i, table[i].name);
}

void real_resolve_all(void)
{
	for (int i = 0; i < REAL_COUNT; i++)
		if (unresolved(__atomic_load_n(table[i].slot, __ATOMIC_ACQUIRE)))
			real_resolve((enum real_index)i);
}

/* Libraries that may define a function the agent interposes without the
 * program being linked against them (libssl, dlopened by CPython's _ssl
 * with RTLD_LOCAL, where RTLD_NEXT does not look). */
static const char *const optional_libs[] = {
	"libssl.so.3", "libssl.so.1.1", "libssl.so", NULL,
};

void *real_next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

void *real_resolve_optional(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	for (int i = 0; p == NULL && optional_libs[i]; i++) {
		void *h = REAL(dlopen)(optional_libs[i], RTLD_LAZY | RTLD_NOLOAD);

		if (h) {
			p = dlsym(h, name);
			dlclose(h);    /* NOLOAD took a reference; the library stays */
		}
	}
	return p;
}

int real_open_aside(const char *path, int flags, mode_t mode)
{
	struct rlimit rl;
	rlim_t lim = 1024;
	int fd = REAL(open)(path, flags, mode), moved, floor;

	if (fd < 0)
		return -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < lim)
		lim = rl.rlim_cur;
	floor = lim >= 20 ? (int)lim - 16 : (int)lim - 1;
	moved = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor > 3 ? floor : 3);
	if (moved < 0 && fd > 2)
		return fd;              /* at the lowest free one, as opened */
	REAL(close)(fd);
	if (moved < 0)
		errno = EMFILE;
	return moved;
}
