/*
 * compiler.h - attributes and hints every layer uses. Depends on nothing.
 */
#ifndef BASE_COMPILER_H
#define BASE_COMPILER_H

/* Exported from libreqctx.so; only the entry points in shims/ use it. */
#define AGENT_EXPORT __attribute__((visibility("default")))
/* On a declaration of the agent's own data that headers share: defined in
 * this library, so reached without the global offset table. */
#define AGENT_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* For code that runs where a sanitizer runtime cannot follow yet: during
 * its own start-up, or first thing on a thread it has not seen start. */
#define AGENT_NOT_INSTRUMENTED __attribute__((no_sanitize("thread", "address", "undefined")))

/* The agent is only ever preloaded, so its TLS sits in the static block. */
#define AGENT_TLS __thread __attribute__((tls_model("initial-exec")))

/* Set in agent_thread.depth by the vfork trampoline (shims/vfork.S, which
 * includes this file): until the parent runs again, the child shares this
 * memory and must not touch it. */
#define AGENT_VFORK_MARK 0x10000
/* Offset of agent_thread.depth, for the trampoline (checked in state.c). */
#define AGENT_THREAD_DEPTH_OFFSET 8

#endif
