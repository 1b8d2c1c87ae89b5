/*
 * bridge.h - loads the runtime bridges (bridges/) into node, python3 and
 * ruby through the variables they read at start-up. See bridge.c.
 */
#ifndef AGENT_BRIDGE_H
#define AGENT_BRIDGE_H

#include <stdbool.h>

#include "agent/inherit.h"
#include "base/compiler.h"
#include "base/thread.h"

/* In the constructor, after the configuration is read. */
void bridge_start(void);

/*
 * Never wrong without a bridge: in a runtime that schedules requests in
 * user space (node, python, ruby: bridge_start() recognised one), a thread
 * that runs an epoll loop switches between requests where no libc call
 * shows it, so its lines carry no prefix until the runtime's bridge reports
 * in (bridge_ready(), through reqctx_api_bridge_ready()). 1 while pending.
 */
extern int bridge_pending;

/* 1 in an interpreter whose event loops schedule requests in user space
 * (node, python, ruby, not embedded): the epoll events of its bridged
 * loops, and of all its loops while no bridge is in, go out in whole
 * batches unless REQCTX_EPOLL says otherwise (agent/dispatch.c). */
extern int bridge_runtime;

/* 1 in the Python interpreter (and in a program embedding it once it is
 * green: bridge_green): its bridge drives asyncio's loops only,
 * and every other epoll loop of the process (Twisted's reactor, gevent's
 * libev, uvloop's libuv) runs callbacks, timers and green threads in user
 * space where no libc call shows a switch: such a loop's thread stays as
 * before its bridge reported in (its lines carry nothing), after as well
 * (agent/dispatch.c). A trial found 242 to 566 wrong lines in 1,200 on
 * Twisted's epoll reactor, 342 in 600 on gunicorn's gevent worker, 400 in
 * 600 on aiohttp over uvloop, all 0 with this. */
extern int bridge_loops_only;

/* 1 in a Python process (the interpreter, or a program embedding it:
 * uWSGI) once greenlet's extension was loaded (bridge_loaded): gevent's
 * and eventlet's hubs run green threads, each a request's handler, in
 * user space between one wait and the next, on epoll, poll or select
 * alike, where no libc call shows a switch. Every wait of such a
 * process's threads then leaves the thread unvouched (its lines carry
 * nothing, it hands nothing on), unless its bridge drives the loop. A
 * trial found 2-14% of the lines naming a request wrong on gevent's and
 * eventlet's poll and select hubs and on uWSGI --gevent's defaults, and
 * 31 of 201 calls to a backend sent another request's IDs. */
extern int bridge_green;

/* A library was loaded (dlopen's `file`, as given): greenlet's extension
 * module in a Python process sets bridge_green. */
void bridge_loaded(const char *file);

/* 1 once bridge_loaded() needs calling: the process is Python's. */
extern int bridge_watch_loads;

/* 1 in the Ruby interpreter: a poll or select over two client
 * connections or more, or over one and a listening socket, is a fiber
 * scheduler's (a hand-made one over IO.select, the async gem on nio4r's
 * pure-Ruby selector): the fibers it resumes after the wait (one whose
 * timer ran out, one another connection woke) are other requests', and
 * no libc call shows the switch. The thread is unvouched from that wait
 * on (shims/poll.c). Ruby's threaded servers wait so on their listeners
 * only (puma's server thread, WEBrick), or on one connection and a
 * wake-up pipe (a puma worker). */
extern int bridge_watch_selects;

/* The thread waits for events in a green process (bridge_green), outside
 * a loop its bridge drives and not in a process started inside a request
 * (agent/inherit.h): poll and select (shims/poll.c), epoll
 * (agent/dispatch.c). */
static inline bool bridge_green_wait(void)
{
	return unlikely(__atomic_load_n(&bridge_green, __ATOMIC_RELAXED)) && !agent_self.bridge_loop &&
	       inherit_home == NULL;
}

/* 1 in a virtual machine or interpreter (node, python - embedded too -,
 * ruby, java): it takes locks of its own after its system calls (CPython's
 * GIL, Ruby's GVL, HotSpot's), so a lock after a channel's read is not a
 * job queue's (agent/handoff.h, rule 8). */
extern int bridge_vm;

/* The runtime's bridge is loaded and drives the context from now on
 * (nothing, once it failed). */
void bridge_ready(void);

/* The runtime's bridge could not put all its hooks in (a runtime whose
 * internals it does not know): its contexts cannot be vouched for, and
 * the process goes back to the state before bridge_ready() for good. */
void bridge_failed(void);

/* 1 once bridge_failed() was called: a thread not vouched for (an event
 * loop's) gives no snapshot either (reqctx_api_snapshot), so nothing the
 * bridge still captures there carries its guess on. */
extern int bridge_broken;

/* A bridge that never reports ready (Node's) enters a request's context
 * only around the calls that need it natively, and vouches for it there:
 * on, the calling thread's context counts (its lines are tagged, it hands
 * it on) even on an event loop; off, it does not. Returns whether it was
 * vouched for before (reqctx_api_bridge_vouch). */
int bridge_vouch(bool on);

/* The calling thread starts (on) or stops running an event loop whose
 * callbacks the bridge gives their context (asyncio's, libuv's under
 * Node): meanwhile its epoll events may go out in whole batches
 * (agent/dispatch.c; reqctx_api_bridge_loop). */
void bridge_loop(bool on);

#endif
