/*
 * trace.c - what one traced request costs: a server in one thread, over
 * loopback TCP, reads a request (the agent starts a context), sends an
 * HTTP/1.1 request to an upstream on a keep-alive connection it opened
 * (headers inserted), reads the upstream's reply (the CLIENT span ends),
 * and answers its client (the request ID inserted, the SERVER span
 * written). Client and upstream are ends of the same loop, so one
 * iteration is one request with one outbound call; it prints ns of
 * process CPU time per request (median of 5 timed repetitions; CPU time,
 * not wall time, since the loopback hops are what a shared machine makes
 * noisy):
 *
 *     request<TAB>ns<TAB>iterations
 *
 * Run without the agent and with it under different REQCTX_* settings
 * (tests/bench/run, section "trace"). The client's own socket is connected
 * with a raw system call, so the agent never treats it as an outbound
 * connection of the server's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof *a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)a, &len))
		die("listen");
	return fd;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Reads one message ending in a blank line (no bodies here). */
static void read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r <= 0)
			die("read");
		n += (size_t)r;
		buf[n] = '\0';
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			return;
	}
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	static const char req[] = "GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n";
	static const char up_req[] = "GET /stock HTTP/1.1\r\nHost: upstream\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct sockaddr_in sa, ua;
	int ls = listener(&sa), lu = listener(&ua);
	int client, server, peer, upstream;
	long iters = 5000;
	double runs[5];
	char buf[4096];
	const char *scale = getenv("CALLS_SCALE");

	if (scale)
		iters = (long)(iters * atof(scale));
	if (iters < 100)
		iters = 100;
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (client < 0 || syscall(SYS_connect, client, (struct sockaddr *)&sa, sizeof sa))
		die("client connect");
	server = accept(ls, NULL, NULL);
	peer = socket(AF_INET, SOCK_STREAM, 0);
	if (server < 0 || peer < 0 || connect(peer, (struct sockaddr *)&ua, sizeof ua))
		die("upstream connect");
	upstream = accept(lu, NULL, NULL);
	if (upstream < 0)
		die("accept");
	nodelay(client);
	nodelay(server);
	nodelay(peer);
	nodelay(upstream);
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();

		for (long i = 0; i < iters; i++) {
			if (write(client, req, sizeof req - 1) != sizeof req - 1)
				die("client write");
			read_head(server, buf, sizeof buf);           /* a request starts */
			if (send(peer, up_req, sizeof up_req - 1, 0) != sizeof up_req - 1)
				die("send upstream");
			read_head(upstream, buf, sizeof buf);
			if (write(upstream, reply, sizeof reply - 1) != sizeof reply - 1)
				die("upstream reply");
			read_head(peer, buf, sizeof buf);             /* the reply */
			if (write(server, reply, sizeof reply - 1) != sizeof reply - 1)
				die("server reply");
			read_head(client, buf, sizeof buf);
		}
		runs[rep] = (now() - t0) / (double)iters;
	}
	qsort(runs, 5, sizeof runs[0], cmp);
	printf("request\t%.1f\t%ld\n", runs[2], iters);
	return 0;
}
