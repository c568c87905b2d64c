import { millisToHrTime } from '@opentelemetry/core';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { hrTimeOf, millisToHrTimeOf, spanContextOf } from '../../src/core/SiteFree';
import { FIXTURES, REGISTER } from '../helpers/fixture';
import { startOtlpReceiver } from '../helpers/otlpReceiver';

describe('SiteFree: span parts made without literals', () => {
  it('hrTimeOf and millisToHrTimeOf give the arrays core gives', () => {
    assert.deepEqual(hrTimeOf(1_700_000_000, 999_999_999), [1_700_000_000, 999_999_999]);
    assert.equal(hrTimeOf(0, 0).length, 2);
    assert.ok(Array.isArray(hrTimeOf(1, 2)));
    for (const ms of [0, 1, 999.9999, 1000, 1_764_460_800_123.456, 1_764_460_800_999.9996, Date.now(), -1500.25]) {
      assert.deepEqual(millisToHrTimeOf(ms), millisToHrTime(ms), `ms ${ms}`);
    }
  });

  it('spanContextOf gives a plain span context, equal to the literal', () => {
    const sc = spanContextOf('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 1, undefined);
    assert.equal(Object.getPrototypeOf(sc), Object.prototype);
    assert.deepEqual(Object.keys(sc), ['traceId', 'spanId', 'traceFlags', 'traceState']);
    assert.deepEqual(sc, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: undefined });
  });

  it('under the preload, a request’s span parts and server state stay in the young generation where a literal is pretenured', async () => {
    // The fixture asks V8 (`%InYoungGeneration`) where each object was just allocated; a 1 MiB young generation
    // makes V8 take its pretenuring decisions within the first requests. Spans are exported to a sink here, so
    // they wait in the export queue as in a service. With object literals for these parts (the tree before
    // src/core/SiteFree.ts), the request state and RPC metadata were pretenured: old in 96 % of requests.
    const receiver = await startOtlpReceiver();
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--allow-natives-syntax', '--max-semi-space-size=1', '--require', REGISTER, join(FIXTURES, 'pretenure-app.js')],
        {
          env: {
            PATH: process.env.PATH,
            OTEL_SERVICE_NAME: 'pretenure-app',
            OTEL_TRACES_EXPORTER: 'otlp',
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_METRICS_EXPORTER: 'none',
            OTEL_LOGS_EXPORTER: 'none',
            REQUESTS: '3000',
          },
          timeout: 120_000,
        }
      );
      const counts = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, [number, number]>;
      // The control: the same V8, flags and load pretenure a literal whose objects survive.
      assert.deepEqual(counts['control literal'], [0, 1000]);
      // 3000 checked requests, each part young every time.
      for (const part of ['span context', 'start time', 'request state', 'rpc metadata', 'end time', 'duration']) {
        assert.deepEqual(counts[part], [3000, 0], part);
      }
      assert.ok(receiver.spans.length > 0, 'spans were exported');
      assert.deepEqual(receiver.errors, []);
    } finally {
      await receiver.close();
    }
  });
});
