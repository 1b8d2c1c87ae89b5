/*
 * early_read.c - reads and locks before any library's constructor: a
 * function in the program's .preinit_array (run before every shared
 * object's initialisers, the agent's included) reads a pipe with read()
 * and readv() and a socketpair with recv(), and takes a mutex with
 * pthread_mutex_trylock() and pthread_mutex_lock(); then main() does it
 * again and prints what each call returned. The agent's shims of these
 * call libc through pointers resolved on first use (base/real.c): the
 * calls here are the first. Output: "early read=3 readv=3 recv=3 trylock=0
 * lock=0" and the same for main; exit 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct got {
	ssize_t read, readv, recv;
	int trylock, lock;
};

static void reads(struct got *g)
{
	int p[2], sp[2];
	char buf[8];
	struct iovec v = { buf, sizeof buf };

	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	memset(g, 0, sizeof *g);
	g->trylock = pthread_mutex_trylock(&m);
	if (g->trylock == 0)
		pthread_mutex_unlock(&m);
	g->lock = pthread_mutex_lock(&m);
	if (g->lock == 0)
		pthread_mutex_unlock(&m);
	if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
		return;
	if (write(p[1], "abc", 3) == 3)
		g->read = read(p[0], buf, sizeof buf);
	if (write(p[1], "def", 3) == 3)
		g->readv = readv(p[0], &v, 1);
	if (send(sp[0], "ghi", 3, 0) == 3)
		g->recv = recv(sp[1], buf, sizeof buf, 0);
	close(p[0]);
	close(p[1]);
	close(sp[0]);
	close(sp[1]);
}

static struct got early_got;

static void early(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	reads(&early_got);
}

__attribute__((section(".preinit_array"), used))
static void (*const early_entry)(int, char **, char **) = early;

int main(void)
{
	struct got g;

	reads(&g);
	printf("early read=%zd readv=%zd recv=%zd trylock=%d lock=%d\n", early_got.read,
	       early_got.readv, early_got.recv, early_got.trylock, early_got.lock);
	printf("main read=%zd readv=%zd recv=%zd trylock=%d lock=%d\n", g.read, g.readv, g.recv,
	       g.trylock, g.lock);
	return 0;
}
