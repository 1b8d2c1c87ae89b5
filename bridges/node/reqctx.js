'use strict';
/*
 * reqctx.js - the Node bridge of reqctx, loaded by the agent through
 * NODE_OPTIONS=--require (agent/bridge.c). It does nothing without the agent.
 *
 * Node switches between requests in user space (libuv's timer heap, the
 * microtask queue, the thread pool's completions), where the agent's
 * per-thread context cannot follow. This file lets Node's own machinery
 * decide which request is current, and tells the agent only where the
 * agent needs to know:
 *
 * 1. A request starts natively: when the HTTP server publishes
 *    'http.server.request.start', the agent's current context (the one it
 *    made from that socket's request head when the event loop read it) is
 *    captured into an AsyncLocalStorage store. Every resource the request
 *    creates (timers, promises, sockets, thread-pool jobs) inherits the
 *    store.
 * 2. The event loop's own native context is never vouched for (the bridge
 *    does not report ready, agent/bridge.h): outside the calls below its
 *    lines carry no prefix and it hands no context on.
 * 3. Around each call that needs the request natively, the store's
 *    snapshot is entered and vouched for: writes of lines (process.stdout
 *    and process.stderr, fs.write*, fs.writeFileSync and so
 *    fs.appendFileSync), an outbound socket's connect and writes (the
 *    agent names the request in what goes out: X-Request-Id, traceparent),
 *    and starting a child process. A call made where no store is (code
 *    outside any request) goes as it is.
 *
 * Node pays for AsyncLocalStorage's propagation, and for these brackets
 * only where they are: no async_hooks before/after hook, which would make
 * V8 call into JavaScript around every callback and promise reaction.
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

	const { AsyncLocalStorage } = require('async_hooks');
	const als = new AsyncLocalStorage();
	const { push, pop, entrySnapshot } = native;

	// `fn` with the request's context entered and vouched for around it.
	// Own properties (name, length, util.promisify's custom arguments)
	// are kept, so the wrapper is the function to everything but a
	// stack trace.
	function bracket(fn) {
		const wrapped = function () {
			const h = als.getStore();
			if (h === undefined)
				return Reflect.apply(fn, this, arguments);
			push(h);
			try {
				return Reflect.apply(fn, this, arguments);
			} finally {
				pop();
			}
		};
		for (const k of Reflect.ownKeys(fn)) {
			if (k === 'prototype' || k === 'arguments' || k === 'caller')
				continue;
			try {
				Object.defineProperty(wrapped, k, Object.getOwnPropertyDescriptor(fn, k));
			} catch (e) { /* keep going */ }
		}
		return wrapped;
	}

	function replace(obj, name, make) {
		const fn = obj[name];
		if (typeof fn === 'function')
			obj[name] = make(fn);
	}

	const dc = require('diagnostics_channel');
	let viaChannel = false;
	if (typeof dc.subscribe === 'function') {
		try {
			dc.subscribe('http.server.request.start', () => {
				als.enterWith(entrySnapshot());
			});
			viaChannel = true;
		} catch (e) { /* older Node: below */ }
	}
	if (!viaChannel) {
		// Node without that channel: the 'request' event of any server.
		const http = require('http');
		const emit = http.Server.prototype.emit;
		http.Server.prototype.emit = function (ev, ...args) {
			if (ev === 'request')
				return als.run(entrySnapshot(), () => emit.call(this, ev, ...args));
			return emit.call(this, ev, ...args);
		};
	}

	// Lines from JavaScript: process.stdout and process.stderr (console),
	// each patched when the program first asks for it (asking makes the
	// stream, which sets up its fd), and the fs writes loggers use.
	const patched = new WeakSet();
	for (const name of ['stdout', 'stderr']) {
		const d = Object.getOwnPropertyDescriptor(process, name);
		if (d === undefined || typeof d.get !== 'function' || !d.configurable)
			continue;
		Object.defineProperty(process, name, {
			configurable: true, enumerable: d.enumerable,
			get() {
				const s = d.get.call(this);
				if (s && typeof s.write === 'function' && !patched.has(s)) {
					patched.add(s);
					s.write = bracket(s.write);
				}
				return s;
			},
			...(d.set ? { set: d.set } : {}),
		});
	}
	const fs = require('fs');
	for (const name of ['write', 'writeSync', 'writev', 'writevSync', 'writeFileSync'])
		replace(fs, name, bracket);

	// Outbound connections: the agent tags what goes out with the request
	// current when it is written (libuv connects in a later tick, and a
	// pooled connection serves one request after another).
	const net = require('net');
	const kOut = Symbol('reqctx.outbound');
	replace(net.Socket.prototype, 'connect', (connect) => {
		const c = bracket(connect);
		return function () {
			this[kOut] = true;
			return Reflect.apply(c, this, arguments);
		};
	});
	replace(net.Socket.prototype, '_writeGeneric', (writeGeneric) => {
		const w = bracket(writeGeneric);
		return function () {
			return Reflect.apply(this[kOut] === true ? w : writeGeneric, this, arguments);
		};
	});

	// Child processes (spawn, exec, execFile, fork go through
	// ChildProcess#spawn; the Sync ones are exported on their own).
	const cp = require('child_process');
	replace(cp.ChildProcess.prototype, 'spawn', bracket);
	for (const name of ['spawnSync', 'execSync', 'execFileSync'])
		replace(cp, name, bracket);

	Object.defineProperty(globalThis, '__reqctxBridge', {
		value: { als, native }, enumerable: false,
	});
	// The loop takes its epoll events in batches (its callbacks get their
	// context from the store, not from the event).
	if (typeof native.loop === 'function')
		native.loop();
})();
