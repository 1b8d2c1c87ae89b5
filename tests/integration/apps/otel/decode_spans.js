// Decodes a REQCTX_SPANS file with the protobuf definitions of OTLP as
// generated from the official opentelemetry-proto files (protobufjs static
// code shipped by @opentelemetry/otlp-transformer 0.52.1, installed under
// the alias otlp-proto): each line is an ExportTraceServiceRequest in
// OTLP/JSON; ids (hex there) become bytes, int64s (decimal strings there)
// are read by fromObject, the message is checked with verify(), encoded to
// protobuf and decoded again, and no span or attribute may have been
// dropped on the way (an unknown field name would be). Prints one JSON line
// per span: {service, kind, traceId, spanId, traceState, parentSpanId, name,
// start, end, status, attributes}; exits 1 on any line that does not decode.
'use strict';
const fs = require('fs');
const root = require('otlp-proto/build/src/generated/root.js');
const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const hexToBytes = (h) => (h ? Buffer.from(h, 'hex') : Buffer.alloc(0));
const bytesToHex = (b) => Buffer.from(b || []).toString('hex');
const AnyValue = root.opentelemetry.proto.common.v1.AnyValue;
const value = (v) => {
  const o = AnyValue.toObject(v, { longs: String });
  return v.value ? o[v.value] : null;      // the oneof member that is set
};

const Span = root.opentelemetry.proto.trace.v1.Span;
let bad = 0;
const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l);
for (const [i, line] of lines.entries()) {
  let obj;
  try {
    obj = JSON.parse(line);
    for (const rs of obj.resourceSpans || [])
      for (const ss of rs.scopeSpans || [])
        for (const s of ss.spans || []) {
          for (const k of ['traceId', 'spanId', 'parentSpanId'])
            if (k in s) s[k] = hexToBytes(s[k]);
        }
    const m = Req.fromObject(obj);
    const err = Req.verify(m);
    if (err) throw new Error('verify: ' + err);
    const msg = Req.decode(Req.encode(m).finish());
    const count = (o) => (o.resourceSpans || []).reduce((n, rs) => n + (rs.scopeSpans || []).reduce(
      (k, ss) => k + (ss.spans || []).reduce((j, sp) => j + 1 + (sp.attributes || []).length, 0), 0), 0);
    if (count(msg) !== count(obj)) throw new Error('spans or attributes lost in decoding');
    for (const rs of obj.resourceSpans || [])
      for (const ss of rs.scopeSpans || [])
        for (const sp of ss.spans || []) {
          const back = Span.toObject(Span.fromObject(sp), { longs: String, bytes: String });
          for (const k of Object.keys(sp))
            if (!(k in back))
              throw new Error('Span field ' + k + ' is not in the proto definition');
        }
    for (const rs of msg.resourceSpans) {
      const svc = rs.resource.attributes.find((a) => a.key === 'service.name');
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans) {
          const attributes = {};
          for (const a of s.attributes) attributes[a.key] = value(a.value);
          process.stdout.write(JSON.stringify({
            service: svc ? svc.value.stringValue : null, kind: s.kind,
            traceId: bytesToHex(s.traceId), spanId: bytesToHex(s.spanId),
            traceState: s.traceState || null, parentSpanId: bytesToHex(s.parentSpanId), name: s.name,
            start: Span.toObject(s, { longs: String }).startTimeUnixNano,
            end: Span.toObject(s, { longs: String }).endTimeUnixNano,
            status: s.status ? s.status.code : 0, attributes,
          }) + '\n');
        }
    }
  } catch (e) {
    bad++;
    process.stderr.write('line ' + (i + 1) + ': ' + e.message + '\n');
  }
}
process.exit(bad ? 1 : 0);
