/*
 * dgram_server.c - a UDP server for t_dgram. Prints its port on stdout,
 * then serves datagrams on 127.0.0.1 until it gets "quit". For each
 * datagram P it logs "got P" to stderr, and:
 *   P starts with 'r': replies with recvfrom/sendto, then logs "after P"
 *                      (the reply ended the request: no prefix);
 *   'm': the same with recvmsg/sendmsg;
 *   'n': no reply (the next datagram ends its request);
 *   'b': the next receive is one recvmmsg of up to 8 datagrams, after
 *        100 ms of sleep so that several are queued: it logs "batch N"
 *        and, for each, "item P" (several at once: no request), and
 *        answers them all with one sendmmsg (one datagram: a request,
 *        ended by the reply, "after P"; several: none).
 * Which kind comes next is seen with a MSG_PEEK receive (no request).
 * With a path argument it also serves a Unix datagram socket bound there,
 * syslog-style: each datagram read with read() (the sender is not asked
 * for) is logged "syslog P", never answered.
 * Every reply is "ok P".
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <sys/un.h>

#include "target.h"

static int srv;

static void logf_(const char *a, const char *b)
{
	fprintf(stderr, "%s %s\n", a, b);
}

static void reply(const char *p, const struct sockaddr_in *to, bool msg)
{
	char out[300];
	int n = snprintf(out, sizeof out, "ok %s", p);

	if (msg) {
		struct iovec v = { out, (size_t)n };
		struct msghdr m = { .msg_name = (void *)to, .msg_namelen = sizeof *to,
				    .msg_iov = &v, .msg_iovlen = 1 };

		sendmsg(srv, &m, 0);
	} else {
		sendto(srv, out, (size_t)n, 0, (const struct sockaddr *)to, sizeof *to);
	}
}

static void batch(void)
{
	struct mmsghdr v[8], out[8];
	struct sockaddr_in from[8];
	struct iovec iov[8], oiov[8];
	char buf[8][256], rep[8][300];
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int n;

	nanosleep(&ts, NULL);
	memset(v, 0, sizeof v);
	for (int i = 0; i < 8; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof buf[i] - 1 };
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
		v[i].msg_hdr.msg_name = &from[i];
		v[i].msg_hdr.msg_namelen = sizeof from[i];
	}
	n = recvmmsg(srv, v, 8, MSG_WAITFORONE, NULL);
	if (n < 0)
		die("recvmmsg");
	fprintf(stderr, "batch %d\n", n);
	memset(out, 0, sizeof out);
	for (int i = 0; i < n; i++) {
		buf[i][v[i].msg_len] = '\0';
		logf_("item", buf[i]);
		oiov[i] = (struct iovec){ rep[i], (size_t)snprintf(rep[i], sizeof rep[i], "ok %s", buf[i]) };
		out[i].msg_hdr.msg_iov = &oiov[i];
		out[i].msg_hdr.msg_iovlen = 1;
		out[i].msg_hdr.msg_name = &from[i];
		out[i].msg_hdr.msg_namelen = sizeof from[i];
	}
	if (sendmmsg(srv, out, (unsigned)n, 0) != n)
		die("sendmmsg");
	if (n == 1)
		logf_("after", buf[0]);
}

int main(int argc, char **argv)
{
	int ux = -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;

	setvbuf(stderr, NULL, _IONBF, 0);
	srv = socket(AF_INET, SOCK_DGRAM, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(srv, (struct sockaddr *)&a, &len) < 0)
		die("bind");
	if (argc > 1) {
		struct sockaddr_un u = { .sun_family = AF_UNIX };

		snprintf(u.sun_path, sizeof u.sun_path, "%s", argv[1]);
		ux = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (ux < 0 || bind(ux, (struct sockaddr *)&u, sizeof u) < 0)
			die("bind unix");
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		char buf[256];
		struct sockaddr_in from;
		socklen_t flen = sizeof from;
		ssize_t n;
		struct iovec v = { buf, sizeof buf - 1 };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from,
				    .msg_iov = &v, .msg_iovlen = 1 };
		struct pollfd p[2] = { { srv, POLLIN, 0 }, { ux, POLLIN, 0 } };

		if (poll(p, ux >= 0 ? 2 : 1, -1) < 0)
			die("poll");
		if (ux >= 0 && (p[1].revents & POLLIN)) {
			n = read(ux, buf, sizeof buf - 1);
			if (n < 0)
				die("read unix");
			buf[n] = '\0';
			logf_("syslog", buf);
			continue;
		}
		n = recvmsg(srv, &m, MSG_PEEK);
		if (n < 0)
			die("peek");
		if (n > 0 && buf[0] == 'b') {
			batch();
			continue;
		}
		if (n > 0 && buf[0] == 'm')
			n = recvmsg(srv, &m, 0);
		else
			n = recvfrom(srv, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			die("recv");
		buf[n] = '\0';
		if (strcmp(buf, "quit") == 0)
			break;
		logf_("got", buf);
		if (buf[0] == 'r' || buf[0] == 'm') {
			reply(buf, &from, buf[0] == 'm');
			logf_("after", buf);
		}
	}
	return 0;
}
