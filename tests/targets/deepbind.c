/*
 * deepbind.c - for t_deepbind: a library loaded with RTLD_DEEPBIND (PHP's
 * way with its extensions) inside request "deep-1". The library
 * (libdeep.so next to this program) writes "deep line" through stdio and
 * sends "GET /up" to a listener of this program's, which prints the head
 * it received on stdout, then whether dlerror() has anything to say
 * after the successful load ("dlerror: none").
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "target.h"

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	char path[PATH_MAX], dir[PATH_MAX], head[2048];
	int (*call)(unsigned short);
	int l, s, fd;
	ssize_t n;
	void *h;

	(void)argc;
	snprintf(dir, sizeof dir, "%s", argv[0]);
	snprintf(path, sizeof path, "%s/libdeep.so", dirname(dir));
	take_request("deep-1");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		die("listen");
	h = dlopen(path, RTLD_NOW | RTLD_DEEPBIND);
	if (h == NULL)
		die("dlopen");
	printf("dlerror: %s\n", dlerror() ? "set" : "none");
	call = (int (*)(unsigned short))dlsym(h, "deep_call");
	if (call == NULL)
		die("dlsym");
	fd = call(ntohs(a.sin_port));
	if (fd < 0)
		die("deep_call");
	s = accept(l, NULL, NULL);
	if (s < 0 || (n = read_request_head(s, head, sizeof head - 1)) <= 0)
		die("upstream");
	head[n] = '\0';
	printf("upstream got: %s", head);
	fflush(stdout);
	return 0;
}
