/*
 * fake.h - what the suites that drive the flow rules on fake fds share
 * (test_flow, test_dispatch, test_timers, test_inherit): fds far above
 * what the test process has open, slots in the fd map no kernel object
 * backs, requests "served" on them by the calls a server's reads make.
 */
#ifndef UNIT_FAKE_H
#define UNIT_FAKE_H

#include "agent/config.h"

/* The configuration the fake rules run under. */
extern struct config fake_cfg;

/* Loads the defaults plus `var` ("NAME=value", or NULL) as the agent's
 * configuration; resolves the real functions and seeds IDs; the thread
 * starts with no context. For a fixture's setup (fake_setup(NULL)). */
void fake_setup(const char *var);
/* Loads the configuration again (the defaults plus `var`). */
void fake_config(const char *var);
/* A fixture's teardown: forgets fds[0..n) and the thread's context, and
 * loads the defaults again. */
void fake_teardown(const int *fds, unsigned n);

/* A connection accepted on `fd` whose request `id` (X-Request-Id) is
 * read, in a turn of the loop of its own: its context, current (no
 * reference for the caller). */
struct ctx *fake_serve(int fd, const char *id);

/* The current context's ID, or "(none)". */
const char *fake_cur_id(void);

#endif
