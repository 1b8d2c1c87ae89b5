/*
 * flow.h - where contexts start, how they are carried and where they are
 * restored: the rules the shims apply after each real call. The shims
 * decide nothing; they report what happened here.
 */
#ifndef REQCTX_FLOW_H
#define REQCTX_FLOW_H

#include <stddef.h>
#include <sys/socket.h>

#include "fdmap.h"

/* accept/accept4 returned `fd`: a new connection, a new context, current. */
void flow_accept(int fd, const struct sockaddr *peer, socklen_t len);

/* `n` > 0 bytes were read from `fd`; `data` holds at least the first
 * `dlen` of them (dlen may be 0 when they are not contiguous). */
void flow_read(int fd, const void *data, size_t dlen);

/* The program wrote to `fd` (an fd that is not output). */
void flow_write(int fd);

/* connect(fd): the reply will come back in the current context. */
void flow_connect(int fd);

/* A creating call returned `fd`: whatever the map said is stale. */
void flow_new_fd(int fd, enum fd_kind kind);

void flow_close(int fd);
void flow_dup(int from, int to);

/* The thread waits (epoll/poll/select): no context while idle. */
void flow_idle(void);

/* A wait reported `fd` ready: its context becomes current. */
void flow_ready(int fd);

/* Kind of `fd` for a write, classifying a never-seen fd on first use. */
enum fd_kind flow_kind_for_write(int fd);

#endif
