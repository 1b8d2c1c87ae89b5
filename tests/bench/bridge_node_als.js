// tests/bench/bridges, setup "runtime ALS only": no agent; what Node's own
// AsyncLocalStorage costs when a store is entered for each request, the
// least any AsyncLocalStorage-based bridge pays (loaded with
// NODE_OPTIONS=--require).
'use strict';
const { AsyncLocalStorage } = require('async_hooks');
const als = new AsyncLocalStorage();
let n = 0;
require('diagnostics_channel').subscribe('http.server.request.start', () => {
	als.enterWith({ n: ++n });
});
