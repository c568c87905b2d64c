import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContextKey, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { LinkedContext } from '../../src/core/LinkedContext';

const A = createContextKey('a');
const B = createContextKey('b');

test('a value set is read from the new context and the ones made from it, never from the one it was set on', () => {
  const one = LinkedContext.ROOT.setValue(A, 1);
  const two = one.setValue(B, 2);
  const three = two.setValue(A, 3);
  assert.equal(LinkedContext.ROOT.getValue(A), undefined);
  assert.equal(one.getValue(A), 1);
  assert.equal(one.getValue(B), undefined);
  assert.equal(two.getValue(A), 1);
  assert.equal(two.getValue(B), 2);
  assert.equal(three.getValue(A), 3);
  assert.equal(two.getValue(A), 1);
});

test('a deleted key reads undefined from the new context only', () => {
  const set = LinkedContext.ROOT.setValue(A, 'x').setValue(B, 'y');
  const deleted = set.deleteValue(A);
  assert.equal(deleted.getValue(A), undefined);
  assert.equal(deleted.getValue(B), 'y');
  assert.equal(set.getValue(A), 'x');
  assert.equal(deleted.setValue(A, 'z').getValue(A), 'z');
});

test('a long chain reads as the API context does, through its flattened links', () => {
  const keys = Array.from({ length: 8 }, (_, i) => createContextKey(`k${i}`));
  let linked: Context = LinkedContext.ROOT;
  let base: Context = ROOT_CONTEXT;
  const seen: Context[][] = [];
  for (let i = 0; i < 100; i++) {
    const k = keys[(i * 5) % keys.length];
    if (i % 7 === 3) {
      linked = linked.deleteValue(k);
      base = base.deleteValue(k);
    } else {
      linked = linked.setValue(k, i);
      base = base.setValue(k, i);
    }
    seen.push([linked, base]);
  }
  for (const [l, b] of seen) for (const k of keys) assert.equal(l.getValue(k), b.getValue(k));
});

test('the W3C propagator and the trace API work on it as on the API root', () => {
  const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  const getter = { keys: (c: Record<string, string>) => Object.keys(c), get: (c: Record<string, string>, k: string) => c[k] };
  const ctx = new W3CTraceContextPropagator().extract(LinkedContext.ROOT, headers, getter);
  const sc = trace.getSpanContext(ctx);
  assert.equal(sc?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(sc?.spanId, 'b7ad6b7169203331');
  assert.equal(sc?.isRemote, true);
  const out: Record<string, string> = {};
  new W3CTraceContextPropagator().inject(ctx, out, { set: (c, k, v) => ((c as Record<string, string>)[k] = v) });
  assert.equal(out.traceparent, headers.traceparent);
  assert.equal(propagation.getBaggage(ctx), undefined);
});
