import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { JaegerPropagator, parseUberTraceId } from '../../src/propagation/JaegerPropagator';

// The global propagation API's baggage helpers need no global propagator; set one anyway for symmetry.
propagation.setGlobalPropagator(new W3CBaggagePropagator());

test('uber-trace-id: 64-bit ids are left-padded, flags bit 1 is sampled, URL-encoded colons are accepted', () => {
  assert.deepEqual(parseUberTraceId('27ab4e653b98f782:1c2d:0:1'), {
    traceId: '000000000000000027ab4e653b98f782',
    spanId: '0000000000001c2d',
    traceFlags: TraceFlags.SAMPLED,
  });
  assert.equal(parseUberTraceId('27ab4e653b98f782%3A1c2d%3A0%3A0')?.traceFlags, TraceFlags.NONE);
  assert.equal(parseUberTraceId('27ab4e653b98f782:1c2d:0:3')?.traceFlags, TraceFlags.SAMPLED);
});

test('uber-trace-id: malformed values are ignored', () => {
  for (const bad of ['', 'x', '1:2:3', '0:1:0:1', '1:0:0:1', 'zz:1:0:1', '1:zz:0:1', `${'a'.repeat(33)}:1:0:1`, '1:1:0:x', '1:1:0:100']) {
    assert.equal(parseUberTraceId(bad), undefined, bad);
  }
});

test('extract reads the span context and uberctx-* baggage; tenant-id is read as tenant.id; inject writes both back', () => {
  const p = new JaegerPropagator();
  const ctx = p.extract(
    ROOT_CONTEXT,
    { 'uber-trace-id': 'abc:def:0:1', 'uberctx-tenant-id': 'acme', 'uberctx-session': 'a%20b', other: 'x' },
    defaultTextMapGetter
  );
  const sc = trace.getSpanContext(ctx);
  assert.equal(sc?.traceId, '00000000000000000000000000000abc');
  assert.equal(sc?.isRemote, true);
  const bag = propagation.getBaggage(ctx);
  assert.equal(bag?.getEntry('tenant.id')?.value, 'acme');
  assert.equal(bag?.getEntry('session')?.value, 'a b');
  const out: Record<string, string> = {};
  p.inject(ctx, out, defaultTextMapSetter);
  assert.deepEqual(out, {
    'uber-trace-id': '00000000000000000000000000000abc:0000000000000def:0:1',
    'uberctx-tenant.id': 'acme',
    'uberctx-session': 'a%20b',
  });
});
