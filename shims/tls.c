/*
 * tls.c - OpenSSL's record layer, for servers that link libssl
 * dynamically (nginx, CPython's ssl): the request head is only readable
 * after SSL_read has decrypted it, so that is where a TLS connection's
 * requests start and their IDs are adopted; the encrypted bytes the plain
 * read() under it returns never start one (SSL_set_fd marks the fd).
 *
 * The agent never links against libssl: each real function is found on
 * first use (base/real.c). A process without libssl never calls these. One
 * that looks for SSL_read with dlsym(RTLD_DEFAULT) to learn whether
 * OpenSSL is loaded finds these; called without libssl they fail (-1 or 0,
 * ENOSYS) as a missing function would.
 */
#include "base/real.h"
#include "shims/shim.h"

typedef struct ssl_st SSL;

typedef int ssl_rw_fn(SSL *, void *, int);
typedef int ssl_rw_ex_fn(SSL *, void *, size_t, size_t *);
typedef int ssl_set_fd_fn(SSL *, int);
typedef int ssl_get_fd_fn(const SSL *);

int SSL_set_fd(SSL *, int);
int SSL_set_rfd(SSL *, int);
int SSL_read(SSL *, void *, int);
int SSL_read_ex(SSL *, void *, size_t, size_t *);
int SSL_write(SSL *, const void *, int);
int SSL_write_ex(SSL *, const void *, size_t, size_t *);

enum { T_READ, T_READ_EX, T_WRITE, T_WRITE_EX, T_SET_FD, T_SET_RFD, T_GET_RFD, T_COUNT };

static const char *const names[T_COUNT] = {
	"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex",
	"SSL_set_fd", "SSL_set_rfd", "SSL_get_rfd",
};
static void *fns[T_COUNT];

/* The real function, found once (a race finds it twice, harmlessly). */
static void *tls_real(int i)
{
	void *p = __atomic_load_n(&fns[i], __ATOMIC_ACQUIRE);
	int saved;

	if (likely(p != NULL))
		return p;
	saved = errno;            /* SSL_get_error reads errno afterwards */
	agent_enter();
	p = real_resolve_optional(names[i]);
	agent_leave();
	errno = saved;
	if (p)
		__atomic_store_n(&fns[i], p, __ATOMIC_RELEASE);
	return p;
}

#define TLS_REAL(i, type) ((type *)tls_real(i))

static int ssl_fd(const SSL *ssl)
{
	ssl_get_fd_fn *get = TLS_REAL(T_GET_RFD, ssl_get_fd_fn);

	return get && ssl ? get(ssl) : -1;
}

/* Decrypted bytes: the plain read rules of the connection. */
static void decrypted(SSL *ssl, const void *buf, size_t n)
{
	int fd;

	if (n == 0 || !agent_active())
		return;
	fd = ssl_fd(ssl);
	if (flow_fd_moves(fd))
		AGENT_WORK(flow_tls_read(fd, buf, n));
}

/* About to encrypt a reply: the connection's write rules. */
static void encrypting(SSL *ssl, const void *buf, size_t n)
{
	int fd;

	if (!agent_active())
		return;
	fd = ssl_fd(ssl);
	if (flow_fd_moves(fd))
		AGENT_WORK(flow_write(fd, buf, n));
}

static int missing(int ret)
{
	errno = ENOSYS;
	return ret;
}

/* SSL_set_fd and SSL_set_rfd: the fd carries TLS once either succeeds. */
static int set_fd(int which, SSL *ssl, int fd)
{
	ssl_set_fd_fn *real = TLS_REAL(which, ssl_set_fd_fn);
	int r;

	if (real == NULL)
		return missing(0);
	r = real(ssl, fd);
	if (r == 1 && agent_active())
		AGENT_WORK(flow_tls_fd(fd));
	return r;
}

AGENT_EXPORT int SSL_set_fd(SSL *ssl, int fd)
{
	return set_fd(T_SET_FD, ssl, fd);
}

AGENT_EXPORT int SSL_set_rfd(SSL *ssl, int fd)
{
	return set_fd(T_SET_RFD, ssl, fd);
}

AGENT_EXPORT int SSL_read(SSL *ssl, void *buf, int num)
{
	ssl_rw_fn *real = TLS_REAL(T_READ, ssl_rw_fn);
	int r;

	if (real == NULL)
		return missing(-1);
	r = real(ssl, buf, num);
	if (r > 0)
		decrypted(ssl, buf, (size_t)r);
	return r;
}

AGENT_EXPORT int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *got)
{
	ssl_rw_ex_fn *real = TLS_REAL(T_READ_EX, ssl_rw_ex_fn);
	int r;

	if (real == NULL)
		return missing(0);
	r = real(ssl, buf, num, got);
	if (r == 1 && got)
		decrypted(ssl, buf, *got);
	return r;
}

AGENT_EXPORT int SSL_write(SSL *ssl, const void *buf, int num)
{
	ssl_rw_fn *real = TLS_REAL(T_WRITE, ssl_rw_fn);

	if (real == NULL)
		return missing(-1);
	encrypting(ssl, buf, num > 0 ? (size_t)num : 0);
	return real(ssl, (void *)buf, num);
}

AGENT_EXPORT int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written)
{
	ssl_rw_ex_fn *real = TLS_REAL(T_WRITE_EX, ssl_rw_ex_fn);

	if (real == NULL)
		return missing(0);
	encrypting(ssl, buf, num);
	return ((int (*)(SSL *, const void *, size_t, size_t *))real)(ssl, buf, num, written);
}
