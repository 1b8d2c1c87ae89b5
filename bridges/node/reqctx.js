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
 * 3. Around each call that needs the request natively, the snapshot of
 *    the request the call is for is entered and vouched for:
 *    - writes of lines: process.stdout and process.stderr (console), and
 *      fs.writeSync and fs.writeFileSync (so fs.appendFileSync) when what
 *      they write is one line at most: the store's request. A buffer of
 *      several lines is a logger's batch, written by whichever request
 *      filled it last; the asynchronous fs.write and fs.writev are left
 *      alone, since loggers call them from the previous write's callback
 *      (pino's async destination), whose store is the first request's.
 *    - an outbound HTTP request's writes (the agent names the request in
 *      what goes out: X-Request-Id, traceparent): the store of the code
 *      that made the request (http.request and http.get, or a
 *      ClientRequest's first write; undici at 'undici:request:create',
 *      where a fetch's plain handler names none), not of the callback
 *      that writes it (a
 *      request queued for a pooled connection is written from the
 *      previous response's callback). Other outbound writes carry none.
 *    - starting a child process: the store's request.
 *    A call made where no store is (code outside any request) goes as it
 *    is.
 * 4. A worker_threads Worker is made outside any store, wherever it is
 *    made: it serves whichever request posts to it.
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

	const { AsyncLocalStorage, AsyncResource } = require('async_hooks');
	const als = new AsyncLocalStorage();
	const { push, pop, entrySnapshot } = native;
	const dc = require('diagnostics_channel');

	// The store the bracket running now entered (undefined: none runs).
	// A bracketed call inside it with the same store (process.stderr's
	// write calling fs.writeSync) is already in it: it goes as it is.
	let entered;

	// fn.apply(self, args) with snapshot `h` entered and vouched for.
	function within(h, fn, self, args) {
		const outer = entered;
		entered = h;
		push(h);
		try {
			return Reflect.apply(fn, self, args);
		} finally {
			pop();
			entered = outer;
		}
	}

	// `wrapped` given `fn`'s own properties (name, length,
	// util.promisify's custom arguments), so that it is the function to
	// everything but a stack trace.
	function keepOwn(wrapped, fn) {
		for (const k of Reflect.ownKeys(fn)) {
			if (k === 'prototype' || k === 'arguments' || k === 'caller')
				continue;
			try {
				Object.defineProperty(wrapped, k, Object.getOwnPropertyDescriptor(fn, k));
			} catch (e) { /* keep going */ }
		}
		return wrapped;
	}

	// Whether `when` says yes to `args`; no when it throws (the host's
	// call must fail, if at all, with its own error).
	function says(when, args) {
		try {
			return when(args);
		} catch (e) {
			return false;
		}
	}

	// `fn` with the store's request entered around it, when `when` (if
	// given) says the call's arguments are that request's.
	function bracket(fn, when) {
		return keepOwn(function () {
			const h = als.getStore();
			if (h === undefined || h === entered ||
			    (when !== undefined && !says(when, arguments)))
				return Reflect.apply(fn, this, arguments);
			return within(h, fn, this, arguments);
		}, fn);
	}

	function replace(obj, name, make) {
		const fn = obj[name];
		if (typeof fn === 'function') {
			try {
				obj[name] = make(fn);
			} catch (e) { /* a frozen object: left as it is */ }
		}
	}

	// The request that starts on `socket`. Node's TLS is linked into
	// Node itself: the agent reads only encrypted bytes and gives a TLS
	// connection one context, made at accept, for all its requests. The
	// first request is that context; a later one on the same connection
	// is none (it would carry the first one's ID).
	const kServed = Symbol('reqctx.served');
	function starts(socket) {
		if (socket && socket.encrypted === true) {
			if (socket[kServed])
				return undefined;
			try {
				socket[kServed] = true;
			} catch (e) { /* keep going */ }
		}
		return entrySnapshot();
	}

	// A server request's own events ('data', 'end', 'close') run where
	// its socket's bytes come in: on Node 24 (AsyncContextFrame) that is
	// the connection's frame, made before the request began, so a
	// handler's 'data' and 'end' listeners ran with no store. A request
	// of a method other than GET and HEAD (those that carry bodies) runs
	// its events in its store: an emit of its own, not enumerable, that
	// calls its prototype's. The method is a plain field; the headers
	// object is made on first use, and a GET pays nothing.
	const kReq = Symbol('reqctx.request');
	const emitInStore = function emit() {
		const h = this[kReq];
		const emit0 = Object.getPrototypeOf(this).emit;
		if (als.getStore() === h)
			return Reflect.apply(emit0, this, arguments);
		return als.run(h, () => Reflect.apply(emit0, this, arguments));
	};
	function started(req, h) {
		try {
			const m = h !== undefined && req && typeof req === 'object' ? req.method : 'GET';
			if (m !== 'GET' && m !== 'HEAD' && typeof m === 'string') {
				req[kReq] = h;
				Object.defineProperty(req, 'emit', {
					value: emitInStore, writable: true, configurable: true, enumerable: false,
				});
			}
		} catch (e) { /* keep going */ }
		return h;
	}

	let viaChannel = false;
	if (typeof dc.subscribe === 'function') {
		try {
			dc.subscribe('http.server.request.start', (msg) => {
				als.enterWith(started(msg && msg.request, starts(msg && msg.socket)));
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
				return als.run(started(args[0], starts(args[0] && args[0].socket)),
					       () => emit.call(this, ev, ...args));
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
		const get = function () {
			const s = d.get.call(this);
			if (s && typeof s.write === 'function' && !patched.has(s)) {
				patched.add(s);
				// Not enumerable: Object.keys(process.stdout) stays as it
				// was. A stream that refuses the property is left alone.
				try {
					Object.defineProperty(s, 'write', {
						value: bracket(s.write), writable: true, configurable: true, enumerable: false,
					});
				} catch (e) { /* keep going */ }
			}
			return s;
		};
		Object.defineProperty(get, 'name', { value: d.get.name });
		Object.defineProperty(process, name, {
			configurable: true, enumerable: d.enumerable, get,
			...(d.set ? { set: d.set } : {}),
		});
	}
	// At most one line, and it ends the data: a string written as text
	// (an encoding such as hex or base64 decodes to lines not seen here),
	// or the bytes of a view from `off`, `len` of them (undefined: to its
	// end).
	const textual = new Set([undefined, null, 'utf8', 'utf-8', 'ascii', 'latin1', 'binary']);
	function oneLine(data, off, len, encoding) {
		if (typeof data === 'string') {
			if (!textual.has(encoding))
				return false;
			const i = data.indexOf('\n');
			return i < 0 || i === data.length - 1;
		}
		if (!ArrayBuffer.isView(data) || data.byteLength === 0)
			return false;    // nothing, or a view of a detached buffer
		const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
		const from = typeof off === 'number' ? off : 0;
		const end = typeof len === 'number' ? from + len : u8.length;
		const i = u8.indexOf(10, from);
		return i < 0 || i >= end - 1;
	}
	const fs = require('fs');
	// fs.writeSync(fd, buffer, offset, length, position),
	// (fd, buffer, { offset, length }) - a null offset is that form, whole -
	// and (fd, string, position, encoding).
	replace(fs, 'writeSync', (f) => bracket(f, (a) => {
		const o = a[2];
		if (typeof a[1] === 'string')
			return oneLine(a[1], 0, undefined, a[3]);
		if (typeof o === 'object')
			return oneLine(a[1], o ? o.offset : undefined, o ? o.length : undefined);
		return oneLine(a[1], o, a[3]);
	}));
	// fs.writeFileSync(file, data, options | encoding).
	replace(fs, 'writeFileSync', (f) => bracket(f, (a) => {
		const o = a[2];
		return oneLine(a[1], 0, undefined, typeof o === 'string' ? o : o ? o.encoding : undefined);
	}));

	// Outbound HTTP requests: each remembers the store of the code that
	// made it; its writes enter that.
	const kStore = Symbol('reqctx.store');
	const noStore = { store: undefined };
	function remember(msg) {
		if (msg && msg.request && typeof msg.request === 'object')
			msg.request[kStore] = { store: als.getStore() };
	}
	// An undici request is made when a connection can take it: a Pool
	// with its connections busy queues what it is given and makes the
	// request later, from another request's completion. Its handler is
	// made by the caller, and undici's own (request, stream, pipeline)
	// are AsyncResources: the store is the one the handler was made in.
	// A plain handler (fetch's) keeps nothing of its caller, and the
	// store when the request is made may be another request's: none.
	// Each copy of undici (Node's own, one from npm) has its own symbol
	// for the handler: found once per Request class.
	const handlerKeys = new WeakMap();
	function handlerOf(req) {
		const proto = Object.getPrototypeOf(req);
		let k = proto ? handlerKeys.get(proto) : undefined;
		if (k === undefined) {
			k = Object.getOwnPropertySymbols(req).find((y) => y.description === 'handler') || null;
			if (proto)
				handlerKeys.set(proto, k);
		}
		return k ? req[k] : undefined;
	}
	function rememberUndici(msg) {
		const req = msg && msg.request;
		if (!req || typeof req !== 'object')
			return;
		const h = handlerOf(req);
		req[kStore] = h instanceof AsyncResource ? { store: h.runInAsyncScope(() => als.getStore()) }
			: noStore;
	}
	const kNext = Symbol('reqctx.writing');
	if (typeof dc.subscribe === 'function') {
		try {
			dc.subscribe('http.client.request.start', (msg) => {
				if (msg && msg.request && msg.request[kStore] === undefined)
					remember(msg);
			});
			dc.subscribe('undici:request:create', rememberUndici);
			// Published just before undici writes a request's head; its
			// body's writes follow on the same socket.
			dc.subscribe('undici:client:sendHeaders', (msg) => {
				if (msg && msg.socket && typeof msg.socket === 'object')
					msg.socket[kNext] = (msg.request && msg.request[kStore]) || noStore;
			});
		} catch (e) { /* older Node: outbound requests carry none */ }
	}
	// An http(s) request is made by http.request/http.get: its maker's
	// store is taken there ('http.client.request.start' comes only at
	// end(), maybe from another request's code).
	for (const mod of [require('http'), require('https')]) {
		for (const name of ['request', 'get']) {
			replace(mod, name, (make) => keepOwn(function () {
				const store = als.getStore();
				const req = Reflect.apply(make, this, arguments);
				try {
					if (req && typeof req === 'object' && req[kStore] === undefined)
						req[kStore] = { store };
				} catch (e) { /* keep going */ }
				return req;
			}, make));
		}
	}
	const net = require('net');
	const { ClientRequest } = require('http');
	replace(net.Socket.prototype, '_writeGeneric', (writeGeneric) => function () {
		const m = this._httpMessage;
		let r = m ? m[kStore] : undefined;
		// A ClientRequest made otherwise than by http.request/get (new
		// http.ClientRequest) is first written from a tick its
		// constructor scheduled (it takes its socket through
		// process.nextTick), before it is published: the store now is
		// its maker's.
		if (r === undefined && m instanceof ClientRequest)
			r = m[kStore] = { store: als.getStore() };
		if (r === undefined)
			r = this[kNext];
		// No request (undefined), or one the agent gave no context (null:
		// entering none would let the write take the pooled socket's last
		// context): the write names nobody.
		if (r === undefined || r.store === undefined || r.store === null || r.store === entered)
			return Reflect.apply(writeGeneric, this, arguments);
		return within(r.store, writeGeneric, this, arguments);
	});

	// worker_threads: a Worker is made outside any request. Its own
	// resources (the port its 'message' events come through, the streams
	// that bring its stdout and stderr to this thread, where they are
	// written) would otherwise keep the store of the request that made
	// it: a pool made lazily inside the first request gave every later
	// job's lines, and every answer's handler, that request's ID. A
	// worker serves whichever request posts to it; which one, no store
	// says, so its lines and its messages name none.
	try {
		const wt = require('worker_threads');
		const W = wt.Worker;
		if (typeof W === 'function' && typeof als.exit === 'function') {
			const Worker = function Worker(...args) {
				if (new.target === undefined)
					return Reflect.apply(W, this, args);   // W's own TypeError
				return als.exit(() => Reflect.construct(W, args, new.target));
			};
			Object.setPrototypeOf(Worker, W);
			Worker.prototype = W.prototype;
			keepOwn(Worker, W);
			wt.Worker = Worker;
		}
	} catch (e) { /* keep going */ }

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
