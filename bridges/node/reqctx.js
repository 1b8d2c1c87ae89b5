'use strict';
/*
 * reqctx.js - the Node bridge of reqctx, loaded by the agent through
 * NODE_OPTIONS=--require (agent/bridge.c). It does nothing without the agent.
 *
 * Node switches between requests in user space (libuv's timer heap, the
 * microtask queue, the thread pool's completions), where the agent's
 * per-thread context cannot follow. This file lets Node's own machinery
 * decide which request is current and tells the agent:
 *
 * 1. A request starts natively: when the HTTP server publishes
 *    'http.server.request.start', the agent's current context (the one it
 *    made from that socket's request head when the event loop entered
 *    JavaScript) is captured into an AsyncLocalStorage store. Every
 *    resource the request creates (timers, promises, sockets, thread-pool
 *    jobs) inherits the store.
 * 2. An async_hooks hook makes the agent's current context follow the
 *    store: `before` a callback enters its resource's snapshot (no context
 *    when the resource has no store), `after` restores what was current.
 * 3. process.stderr.write enters the store's snapshot around each write, so
 *    a line written from JavaScript never carries another request's ID
 *    even where (2) cannot see (code between callbacks).
 *
 * Snapshots are Externals released by their finalizer when no store
 * refers to them any more.
 */
(function reqctxBridge() {
	const path = require('path');

	// The agent added "--require <this file>" to NODE_OPTIONS; take it out
	// again so the programs this one starts inherit the user's value.
	try {
		const v = process.env.NODE_OPTIONS;
		const piece = '--require ' + __filename;
		if (v !== undefined && v.includes(piece)) {
			const rest = v.split(' ' + piece).join('').split(piece).join('');
			if (rest.trim() === '')
				delete process.env.NODE_OPTIONS;
			else
				process.env.NODE_OPTIONS = rest;
		}
	} catch (e) { /* keep going */ }

	let native;
	try {
		native = require(path.join(__dirname, 'reqctx_node.node'));
	} catch (e) {
		return;
	}
	if (!native.available())
		return;
	if (globalThis.__reqctxBridge)
		return;

	const { AsyncLocalStorage, createHook } = require('async_hooks');
	const als = new AsyncLocalStorage();
	const { push, pop, set, entrySnapshot } = native;

	// ids[i]: the async id whose `before` made native stack entry i.
	const ids = [];
	const hook = createHook({
		before(asyncId) {
			const h = als.getStore();
			push(h === undefined ? null : h);
			ids.push(asyncId);
		},
		after(asyncId) {
			let n = ids.length;
			if (n === 0)
				return;
			if (ids[n - 1] === asyncId) {
				ids.pop();
				pop();
				return;
			}
			// An `after` without its `before` on top (an exception unwound
			// some): unwind to it, or ignore it if it is not there.
			const i = ids.lastIndexOf(asyncId);
			if (i < 0)
				return;
			while (ids.length > i) {
				ids.pop();
				pop();
			}
		},
	});
	hook.enable();

	function startRequest(h) {
		als.enterWith(h);
		set(h);
	}

	const dc = require('diagnostics_channel');
	let viaChannel = false;
	if (typeof dc.subscribe === 'function') {
		try {
			dc.subscribe('http.server.request.start', () => {
				startRequest(entrySnapshot());
			});
			viaChannel = true;
		} catch (e) { /* older Node: below */ }
	}
	if (!viaChannel) {
		// Node without that channel: the 'request' event of any server.
		const http = require('http');
		const emit = http.Server.prototype.emit;
		http.Server.prototype.emit = function (ev, ...args) {
			if (ev === 'request') {
				const h = entrySnapshot();
				return als.run(h, () => {
					set(h);
					return emit.call(this, ev, ...args);
				});
			}
			return emit.call(this, ev, ...args);
		};
	}

	// Lines written from JavaScript carry the store's request, or none.
	const stderr = process.stderr;
	const write = stderr.write;
	stderr.write = function reqctxWrite() {
		const h = als.getStore();
		push(h === undefined ? null : h);
		try {
			return write.apply(this, arguments);
		} finally {
			pop();
		}
	};

	Object.defineProperty(globalThis, '__reqctxBridge', {
		value: { als, native, hook }, enumerable: false,
	});
	// From here on the store decides: the agent may tag the loop's lines,
	// and this thread's loop (libuv's) takes its epoll events in batches.
	native.ready();
	if (typeof native.loop === 'function')
		native.loop();
})();
