/**
 * The guarded OTLP/HTTP transport's requests bypass OpenTelemetry's own HTTP client wrappers: checked with upstream
 * instrumentation-http really patching `http.request` in this process (its `ignoreOutgoingRequestHook` runs first
 * on every request it sees, so it counts what went through it), against a loopback receiver.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Agent, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { isWrapped } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ExportGuard } from '../../src/core/export/ExportGuard';
import { GuardedHttpTransport, unwrappedRequest } from '../../src/core/export/GuardedHttpTransport';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_EXPORT_SPANS, METRIC_EXPORT_SPANS_ATTEMPTED } from '../../src/core/semconv';

let seenByInstrumentation = 0;
const instrumentation = new HttpInstrumentation({
  ignoreOutgoingRequestHook: () => {
    seenByInstrumentation++;
    return false;
  },
});
let server: Server;
let url: string;
const bodies: Buffer[] = [];

before(async () => {
  instrumentation.enable();
  // A require after enable() is what require-in-the-middle patches (the module object every importer shares).
  const http = createRequire(__filename)('http') as typeof import('node:http');
  assert.equal(isWrapped(http.request), true, 'instrumentation-http wraps http.request');
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
});

after(async () => {
  instrumentation.disable();
  await new Promise((resolve) => server.close(resolve));
});

function transport(): GuardedHttpTransport {
  const guard = new ExportGuard({
    store: new MetricStore(resourceFromAttributes({}), { maxSeries: 1000 }),
    attemptedSpec: METRIC_EXPORT_SPANS_ATTEMPTED,
    outcomeSpec: METRIC_EXPORT_SPANS,
    signal: 'span',
    items: 'spans',
    endpoint: url,
  });
  return new GuardedHttpTransport({ url, headers: () => ({ 'Content-Type': 'application/x-protobuf' }), agentFactory: () => new Agent({ keepAlive: false }) }, guard);
}

test('an export request does not go through instrumentation-http, and arrives byte for byte', async () => {
  const http = createRequire(__filename)('http') as typeof import('node:http');
  const before = seenByInstrumentation;
  const data = Uint8Array.from([0x0a, 0x03, 0x61, 0x62, 0x63, 0xff, 0x00]);
  const r = await transport().send(data, 5000);
  assert.equal(r.status, 'success');
  assert.deepEqual(bodies.pop(), Buffer.from(data));
  assert.equal(seenByInstrumentation, before, 'the export was not seen by the instrumentation');
  // The control: an app's request through the same module is seen (so the count above could have moved).
  await new Promise<void>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: new Agent({ keepAlive: false }) }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end('app');
  });
  assert.equal(seenByInstrumentation, before + 1);
  assert.deepEqual(bodies.pop(), Buffer.from('app'));
});

test('only OpenTelemetry (shimmer) wrappers are skipped: another wrapper of http.request still sees the export', async () => {
  const http = createRequire(__filename)('http') as typeof import('node:http') & { request: (...a: unknown[]) => unknown };
  const patched = http.request;
  let seenByOther = 0;
  // An interceptor of the kind a proxy library or a test double installs: a plain replacement, no __wrapped mark.
  http.request = function other(this: unknown, ...args: unknown[]) {
    seenByOther++;
    return Reflect.apply(patched, this, args);
  } as typeof http.request;
  try {
    const before = seenByInstrumentation;
    const r = await transport().send(Uint8Array.from([1, 2, 3]), 5000);
    assert.equal(r.status, 'success');
    assert.deepEqual(bodies.pop(), Buffer.from([1, 2, 3]));
    assert.equal(seenByOther, 1, 'the plain wrapper ran');
    // It called instrumentation-http's wrapper in turn, as the app's own requests would.
    assert.equal(seenByInstrumentation, before + 1);
  } finally {
    http.request = patched;
  }
});

test('unwrappedRequest follows __original through shimmer wrappers only', () => {
  const original = (() => undefined) as unknown as typeof import('node:http').request;
  const mark = (wrapper: object, inner: unknown): void => {
    Object.assign(wrapper, { __original: inner, __unwrap: () => undefined, __wrapped: true });
  };
  const inner = (() => undefined) as unknown as typeof original;
  mark(inner, original);
  const outer = (() => undefined) as unknown as typeof original;
  mark(outer, inner);
  assert.equal(unwrappedRequest(outer), original);
  const plain = (() => undefined) as unknown as typeof original;
  assert.equal(unwrappedRequest(plain), plain);
  const aroundPlain = (() => undefined) as unknown as typeof original;
  mark(aroundPlain, plain);
  assert.equal(unwrappedRequest(aroundPlain), plain);
});
