// An OpenTelemetry-instrumented Node program (the real SDK from npm:
// @opentelemetry/sdk-trace-node, @opentelemetry/instrumentation-http), for
// tests/integration/t_trace_otel. Every span it ends is printed to stdout
// as one JSON line: {kind, traceId, spanId, parentSpanId, name, traceState}.
//
//   node otel_node.js client URL        one GET, then exit
//   node otel_node.js server PORTFILE   serve until killed
'use strict';
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const printer = {
  export(spans, done) {
    for (const s of spans) {
      const ctx = s.spanContext();
      const parent = s.parentSpanContext || null;
      process.stdout.write(JSON.stringify({
        kind: s.kind, traceId: ctx.traceId, spanId: ctx.spanId,
        parentSpanId: parent ? parent.spanId : (s.parentSpanId || null), name: s.name,
        traceState: ctx.traceState ? ctx.traceState.serialize() : null,
      }) + '\n');
    }
    done({ code: 0 });
  },
  shutdown() { return Promise.resolve(); },
};
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] });
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
const http = require('http');

const [mode, arg] = process.argv.slice(2);
if (mode === 'client') {
  http.get(arg, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      process.stdout.write(JSON.stringify({ response: res.statusCode,
        requestId: res.headers['x-request-id'] || null, body }) + '\n');
      provider.shutdown().then(() => process.exit(0));
    });
  }).on('error', (e) => { console.error(e); process.exit(1); });
} else {
  const server = http.createServer((req, res) => {
    const seen = { traceparent: req.headers.traceparent || null,
      tracestate: req.headers.tracestate || null,
      requestId: req.headers['x-request-id'] || null };
    res.setHeader('Content-Type', 'text/plain');
    res.end('node ' + JSON.stringify(seen) + '\n');
  });
  server.listen(0, '127.0.0.1', () => {
    require('fs').writeFileSync(arg + '.tmp', String(server.address().port));
    require('fs').renameSync(arg + '.tmp', arg);
  });
}
