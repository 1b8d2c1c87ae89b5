/*
 * relay_master.c - a master that relays its workers' stderr, as php-fpm's
 * does, in the ways a master can go wrong for the agent's relayed lines
 * (agent/relay.c), for t_relay.
 *
 * The master listens on 127.0.0.1:PORT, makes a pipe per worker and forks
 * W workers whose fd 2 is the pipe's write end. A worker accepts a
 * connection, reads "GET /SPEC HTTP/1.1" with "X-Request-Id: ID", writes
 * into fd 2 what SPEC says, answers 200 and closes. SPEC: tokens joined by
 * '.':
 *   L<n>      one line "line id=ID abc..." of n bytes, one write
 *   Q<n>x<k>  the same line in two writes, parted after k bytes
 *   M<c>x<n>  c such lines of n bytes in one write
 *   B         "line id=ID" (a line other requests' lines may hold: ID r1
 *             is in "line id=r12 ...")
 *   S         "id=ID" (under 8 bytes for short IDs)
 *   F<n>      the L line through stdio (fprintf to stderr: libc's own
 *             write, which the agent does not see)
 *   W<ms>     a pause
 * The master reads each worker's pipe in reads of R bytes and writes each
 * line it gets as `[pool www] child PID said into stderr: "LINE"`:
 *   -e poll1  one read per poll (php-fpm: one event, one read)
 *      drain  reads each ready pipe until EAGAIN
 *   -o verb   the line as it is; cut:N its first N bytes; wrap:N pieces of
 *             N bytes, one master line each
 *   -d K      each line written only after K more reads (a master that
 *             writes late)
 *   -t        two threads read the pipes, taking turns through a mutex
 * Once its workers are forked it writes "ready" on stdout (a test that
 * stops the master must not stop it before then: nobody would accept).
 * It exits after 1.5 s without bytes once it got some.
 *
 * usage: relay_master -p PORT [-w W] [-r R] [-e MODE] [-o MODE] [-d K] [-t]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX 8
#define LATE_MAX 4096

static void put_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

/* "line id=ID abc..." of n bytes (at least the head) into b. */
static size_t make_line(char *b, size_t cap, const char *id, size_t n)
{
	size_t o = (size_t)snprintf(b, cap, "line id=%s ", id);

	for (size_t i = 0; o < n && o < cap - 1; i++)
		b[o++] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
	return o;
}

static void write_spec(const char *spec, const char *id)
{
	char b[16384];
	const char *s = spec;

	while (*s) {
		int c = 0, n = 0;
		size_t o = 0;

		switch (*s) {
		case 'L':
			n = atoi(s + 1);
			o = make_line(b, sizeof b - 1, id, (size_t)n);
			b[o++] = '\n';
			put_all(2, b, o);
			break;
		case 'Q':
			sscanf(s + 1, "%dx%d", &n, &c);
			o = make_line(b, sizeof b - 1, id, (size_t)n);
			b[o++] = '\n';
			if ((size_t)c > o)
				c = (int)o;
			put_all(2, b, (size_t)c);
			put_all(2, b + c, o - (size_t)c);
			break;
		case 'M':
			sscanf(s + 1, "%dx%d", &c, &n);
			for (int i = 0; i < c && o + (size_t)n + 2 < sizeof b; i++) {
				o += make_line(b + o, sizeof b - o - 1, id, (size_t)n);
				b[o++] = '\n';
			}
			put_all(2, b, o);
			break;
		case 'B':
			o = (size_t)snprintf(b, sizeof b, "line id=%s\n", id);
			put_all(2, b, o);
			break;
		case 'S':
			o = (size_t)snprintf(b, sizeof b, "id=%s\n", id);
			put_all(2, b, o);
			break;
		case 'F':
			o = make_line(b, sizeof b - 1, id, (size_t)atoi(s + 1));
			b[o] = '\0';
			fprintf(stderr, "%s\n", b);
			break;
		case 'W': {
			long ms = atol(s + 1);
			struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

			nanosleep(&ts, NULL);
			break;
		}
		}
		s += strcspn(s, ".");
		if (*s == '.')
			s++;
	}
}

static void worker(int ls)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

	for (;;) {
		char req[8192], spec[2048] = "", id[128] = "-", *h;
		size_t got = 0, l;
		int c = accept(ls, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		while (got < sizeof req - 1) {
			ssize_t r = read(c, req + got, sizeof req - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[got] = '\0';
		if (strncmp(req, "GET /", 5) == 0) {
			l = strcspn(req + 5, " ");
			l = l < sizeof spec ? l : sizeof spec - 1;
			memcpy(spec, req + 5, l);
			spec[l] = '\0';
		}
		h = strcasestr(req, "\r\nX-Request-Id: ");
		if (h) {
			h += 16;
			l = strcspn(h, "\r\n");
			l = l < sizeof id ? l : sizeof id - 1;
			memcpy(id, h, l);
			id[l] = '\0';
		}
		write_spec(spec, id);
		put_all(c, ok, sizeof ok - 1);
		close(c);
	}
}

static int nworkers = 2, read_size = 1023, late, two_threads;
static const char *events = "poll1", *output = "verb";
static int output_n;

static struct worker_pipe {
	int fd, pid;
	size_t len;
	char buf[65536];
} pipes[WORKERS_MAX];

/* Lines a late master holds back: written `late` reads after their own. */
static struct { char *text; size_t len; int pid; long due; } held[LATE_MAX];
static size_t held_first, held_end;
static long reads;
static pthread_mutex_t master_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;

static void say(int pid, const char *t, size_t n)
{
	char b[16384];
	int k;

	if (strncmp(output, "cut", 3) == 0 && n > (size_t)output_n)
		n = (size_t)output_n;
	if (strncmp(output, "wrap", 4) == 0) {
		for (size_t o = 0; o == 0 || o < n; o += (size_t)output_n) {
			size_t m = n - o < (size_t)output_n ? n - o : (size_t)output_n;

			k = snprintf(b, sizeof b, "[pool www] child %d said into stderr: \"%.*s\"%s\n",
				     pid, (int)m, t + o, o + m < n ? "..." : "");
			put_all(2, b, (size_t)k);
			if (n == 0)
				break;
		}
		return;
	}
	k = snprintf(b, sizeof b, "[pool www] child %d said into stderr: \"%.*s\"\n", pid, (int)n, t);
	put_all(2, b, (size_t)k);
}

/* Writes the held lines that are due (all of them with `all`). */
static void say_due(int all)
{
	while (held_first != held_end && (all || held[held_first].due <= reads)) {
		say(held[held_first].pid, held[held_first].text, held[held_first].len);
		free(held[held_first].text);
		held_first++;
	}
}

static void got_line(int pid, const char *t, size_t n)
{
	if (late == 0 || held_end == LATE_MAX) {
		say(pid, t, n);
		return;
	}
	held[held_end].text = malloc(n + 1);
	if (held[held_end].text == NULL)
		return;
	memcpy(held[held_end].text, t, n);
	held[held_end].len = n;
	held[held_end].pid = pid;
	held[held_end].due = reads + late;
	held_end++;
}

/* One read of pipe i: its whole lines go out (a '\n' or a NUL ends one). */
static ssize_t read_pipe(int i)
{
	struct worker_pipe *w = &pipes[i];
	size_t a = 0, room = sizeof w->buf - w->len;
	ssize_t r = read(w->fd, w->buf + w->len, (size_t)read_size < room ? (size_t)read_size : room);

	if (r <= 0)
		return r;
	reads++;
	say_due(0);
	w->len += (size_t)r;
	for (size_t j = 0; j < w->len; j++)
		if (w->buf[j] == '\n' || w->buf[j] == '\0') {
			if (j > a)
				got_line(w->pid, w->buf + a, j - a);
			a = j + 1;
		}
	memmove(w->buf, w->buf + a, w->len - a);
	w->len -= a;
	if (w->len == sizeof w->buf)
		w->len = 0;             /* a line longer than the buffer: dropped */
	return r;
}

/* Polls the pipes and reads them until 1.5 s pass without bytes. */
static void *relay(void *arg)
{
	struct pollfd pfd[WORKERS_MAX];
	int idle = 0, got = 0;

	(void)arg;
	while (!stopping) {
		int k;

		for (int i = 0; i < nworkers; i++) {
			pfd[i].fd = pipes[i].fd;
			pfd[i].events = POLLIN;
		}
		k = poll(pfd, (nfds_t)nworkers, 100);
		if (k <= 0) {
			idle += 100;
			if (got && idle >= 1500)
				break;
			continue;
		}
		idle = 0;
		got = 1;
		pthread_mutex_lock(&master_lock);
		for (int i = 0; i < nworkers; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (strcmp(events, "drain") == 0)
				while (read_pipe(i) > 0)
					;
			else
				(void)read_pipe(i);
			if (strcmp(events, "poll1") == 0)
				break;
		}
		pthread_mutex_unlock(&master_lock);
	}
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int port = 0, one = 1, ls, opt;
	pthread_t second;

	while ((opt = getopt(argc, argv, "p:w:r:e:o:d:t")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'w': nworkers = atoi(optarg); break;
		case 'r': read_size = atoi(optarg); break;
		case 'e': events = optarg; break;
		case 'o':
			output = optarg;
			output_n = strchr(optarg, ':') ? atoi(strchr(optarg, ':') + 1) : 0;
			break;
		case 'd': late = atoi(optarg); break;
		case 't': two_threads = 1; break;
		default:
			fprintf(stderr, "usage: %s -p PORT [-w W] [-r R] [-e poll1|drain] "
				"[-o verb|cut:N|wrap:N] [-d K] [-t]\n", argv[0]);
			return 2;
		}
	}
	if (nworkers < 1 || nworkers > WORKERS_MAX || read_size < 1 ||
	    (output_n < 1 && strcmp(output, "verb") != 0)) {
		fprintf(stderr, "relay_master: bad option\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 128) != 0) {
		perror("relay_master: bind");
		return 1;
	}
	for (int i = 0; i < nworkers; i++) {
		int pf[2];
		pid_t pid;

		if (pipe(pf) != 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			close(pf[0]);
			for (int k = 0; k < i; k++)
				close(pipes[k].fd);
			dup2(pf[1], 2);
			close(pf[1]);
			worker(ls);
		}
		close(pf[1]);
		pipes[i].fd = pf[0];
		pipes[i].pid = (int)pid;
		fcntl(pf[0], F_SETFL, O_NONBLOCK);
	}
	put_all(1, "ready\n", 6);
	if (two_threads)
		pthread_create(&second, NULL, relay, NULL);
	relay(NULL);
	if (two_threads)
		pthread_join(second, NULL);
	say_due(1);
	for (int i = 0; i < nworkers; i++)
		kill(pipes[i].pid, SIGKILL);
	while (wait(NULL) > 0)
		;
	return 0;
}
