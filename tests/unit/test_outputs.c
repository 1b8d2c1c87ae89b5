/*
 * test_outputs.c - REQCTX_TAG's glob matching (agent/out_path.c) and the
 * datagram rules (agent/dgram.c): sender keys, a context per datagram,
 * ended by the reply to its sender, none for several at once, and a
 * socket that sends first in a request becoming a client's.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/dgram.h"
#include "agent/out_path.h"
#include "base/ctx.h"
#include "base/id.h"
#include "ctxmap/fdmap.h"
#include "suites.h"

#define UNIT_SUITE outputs
#define UNIT_TCASE outputs

UNIT_TEST(glob_match)
{
	ck_assert(out_path_match("/var/log/nginx/*.log", "/var/log/nginx/access.log"));
	ck_assert(out_path_match("/var/log/nginx/*.log", "/var/log/nginx/.log"));
	ck_assert(!out_path_match("/var/log/nginx/*.log", "/var/log/nginx/sub/access.log"));
	ck_assert(!out_path_match("/var/log/nginx/*.log", "/var/log/nginx/access.log.1"));
	ck_assert(out_path_match("/a/*/b.log", "/a/x/b.log"));
	ck_assert(!out_path_match("/a/*/b.log", "/a/x/y/b.log"));
	ck_assert(out_path_match("/a/rot-?.log", "/a/rot-3.log"));
	ck_assert(!out_path_match("/a/?", "/a/"));
	ck_assert(out_path_match("/a/[0-9][!a-z].log", "/a/5X.log"));
	ck_assert(!out_path_match("/a/[0-9][!a-z].log", "/a/5x.log"));
	ck_assert(out_path_match("/a/[^a].log", "/a/b.log"));
	ck_assert(out_path_match("/a/\\*.log", "/a/*.log"));
	ck_assert(!out_path_match("/a/\\*.log", "/a/x.log"));
	ck_assert(out_path_match("/a/[.log", "/a/[.log"));      /* unclosed: literal */
	ck_assert(out_path_match("/a/**x", "/a/yyx"));
	ck_assert(out_path_match("/exact", "/exact"));
	ck_assert(!out_path_match("/exact", "/exactly"));
	ck_assert(!out_path_match("/x*", "/"));
	ck_assert(out_path_match("/x*", "/x"));
	ck_assert(out_path_match("*", "anything"));
}

UNIT_TEST(path_tagged_relative)
{
	struct config c;
	char cwd[512], pat[600];

	config_defaults(&c);
	ck_assert(getcwd(cwd, sizeof cwd) != NULL);
	snprintf(pat, sizeof pat, "%s/*.log", strcmp(cwd, "/") ? cwd : "");
	ck_assert(!out_path_tagged(&c, AT_FDCWD, "/x.log"));       /* no patterns */
	c.tag_npaths = 1;
	c.tag_path[0] = 0;
	memcpy(c.tag_paths, pat, strlen(pat) + 1);
	ck_assert(out_path_tagged(&c, AT_FDCWD, "a.log"));
	ck_assert(out_path_tagged(&c, AT_FDCWD, "./a.log"));
	ck_assert(!out_path_tagged(&c, AT_FDCWD, "sub/a.log"));
	ck_assert(!out_path_tagged(&c, AT_FDCWD, "a.txt"));
	ck_assert(!out_path_tagged(&c, 3, "a.log"));               /* another directory */
	ck_assert(!out_path_tagged(&c, AT_FDCWD, NULL));
}

static socklen_t in4(struct sockaddr_in *a, const char *ip, int port)
{
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return sizeof *a;
}

UNIT_TEST(peer_keys)
{
	unsigned char k1[24], k2[24];
	struct sockaddr_in a, b;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	struct sockaddr_un u = { .sun_family = AF_UNIX, .sun_path = "/run/x" };

	in4(&a, "127.0.0.1", 5353);
	in4(&b, "127.0.0.1", 5353);
	memset(b.sin_zero, 0xff, sizeof b.sin_zero);   /* padding is not the sender */
	ck_assert_uint_eq(dgram_peer_key(k1, (void *)&a, sizeof a), 7);
	ck_assert_uint_eq(dgram_peer_key(k2, (void *)&b, sizeof b), 7);
	ck_assert(memcmp(k1, k2, 7) == 0);
	in4(&b, "127.0.0.1", 5354);
	dgram_peer_key(k2, (void *)&b, sizeof b);
	ck_assert(memcmp(k1, k2, 7) != 0);
	ck_assert_uint_eq(dgram_peer_key(k1, (void *)&s6, sizeof s6), 23);
	ck_assert_uint_eq(dgram_peer_key(k1, (void *)&u, offsetof(struct sockaddr_un, sun_path) + 7), 8);
	ck_assert_uint_eq(dgram_peer_key(k1, (void *)&u, sizeof(sa_family_t)), 0);  /* unnamed */
	ck_assert_uint_eq(dgram_peer_key(k1, NULL, 0), 0);
	ck_assert_uint_eq(dgram_peer_key(k1, (void *)&a, 4), 0);                     /* short */
}

UNIT_TEST(datagram_requests)
{
	struct fdslot *s = fdmap_slot(6100);
	struct sockaddr_in a, b;
	struct ctx *first;

	id_init();
	fdmap_reset(6100, FD_DGRAM);
	in4(&a, "127.0.0.1", 1000);
	in4(&b, "127.0.0.1", 2000);
	dgram_received(s, 6100, (void *)&a, sizeof a, 1);
	first = ctx_current();
	ck_assert_ptr_nonnull(first);
	ck_assert_str_eq(first->peer, "127.0.0.1:1000");
	ck_assert_ptr_null(fdmap_ctx_peek(s));         /* the socket carries none */
	dgram_sent(6100, (void *)&b, sizeof b);        /* another sender: goes on */
	ck_assert_ptr_eq(ctx_current(), first);
	dgram_sent(6100, (void *)&a, sizeof a);        /* the reply: ends it */
	ck_assert_ptr_null(ctx_current());
	dgram_received(s, 6100, (void *)&a, sizeof a, 1);
	first = ctx_current();
	dgram_received(s, 6100, (void *)&b, sizeof b, 1);   /* the next datagram */
	ck_assert_ptr_nonnull(ctx_current());
	ck_assert_ptr_ne(ctx_current(), first);
	dgram_received(s, 6100, (void *)&a, sizeof a, 3);   /* several at once */
	ck_assert_ptr_null(ctx_current());
	dgram_received(s, 6100, NULL, 0, 1);                /* sender not known */
	ck_assert_ptr_nonnull(ctx_current());
	dgram_sent(6100, (void *)&a, sizeof a);             /* matches no reply */
	ck_assert_ptr_nonnull(ctx_current());
	dgram_sending(s, 6100);                             /* a server's socket stays one */
	ck_assert_int_eq(fdmap_kind(s), FD_DGRAM);
	ctx_take_current(NULL);
	fdmap_reset(6100, FD_UNKNOWN);
}

UNIT_TEST(datagram_client_socket)
{
	struct fdslot *s = fdmap_slot(6101);
	struct ctx *req;

	id_init();
	fdmap_reset(6101, FD_DGRAM);
	dgram_sending(s, 6101);                    /* no context: nothing learned */
	ck_assert_int_eq(fdmap_kind(s), FD_DGRAM);
	req = ctx_new(NULL);
	ctx_take_current(req);
	dgram_sending(s, 6101);                    /* a query going upstream */
	ck_assert_int_eq(fdmap_kind(s), FD_PEER);
	ck_assert_ptr_eq(fdmap_ctx_peek(s), req);
	ctx_take_current(NULL);
	fdmap_reset(6101, FD_DGRAM);
	fdmap_reset(6100, FD_DGRAM);
	dgram_received(fdmap_slot(6100), 6100, NULL, 0, 1);  /* in a datagram's request too */
	req = ctx_current();
	dgram_sending(s, 6101);
	ck_assert_int_eq(fdmap_kind(s), FD_PEER);
	ck_assert_ptr_eq(fdmap_ctx_peek(s), req);
	ctx_take_current(NULL);
	fdmap_reset(6100, FD_UNKNOWN);
	fdmap_reset(6101, FD_UNKNOWN);
}

Suite *outputs_suite(void)
{
	Suite *s = suite_create("outputs");
	TCase *t = unit_tcase("outputs", "outputs");

	suite_add_tcase(s, t);
	return s;
}
