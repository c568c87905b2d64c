/**
 * Out of process: a node:http app under `node --require ./register.js` exports its spans over OTLP/protobuf to a
 * loopback receiver, which decodes them with the OTLP message definitions (test/helpers/otlpReceiver.ts). Run with
 * the lean trace encoder (the default) and with `TENANTSCOPE_OTLP_TRACE_ENCODER=upstream`: the same spans, names,
 * attributes and tenants arrive either way, exactly.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';

const REQUESTS: [number, string][] = [
  [1, 'acme'],
  [2, 'globex'],
  [3, 'acme'],
  [4, 'initech'],
];

function get(port: number, path: string, tenant: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { 'x-tenant-id': tenant } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a span carries that does not change from run to run (no ids, times, ports). */
function stable(s: ReceivedSpan): unknown {
  const attributes = { ...s.attributes };
  for (const k of ['network.peer.port', 'server.port', 'client.port']) delete attributes[k];
  return { name: s.name, kind: s.kind, scope: s.scope, attributes, status: s.status, events: s.events, encoding: s.encoding };
}

const runs = new Map<string, ReceivedSpan[]>();

for (const encoder of ['lean', 'upstream']) {
  describe(`OTLP/protobuf trace export with the ${encoder} encoder`, () => {
    let receiver: OtlpReceiver;
    let app: RunningFixture;

    before(async () => {
      receiver = await startOtlpReceiver();
      app = await startFixture('encoder-app.js', {
        env: {
          OTEL_SERVICE_NAME: 'encoder-app',
          OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          ...(encoder === 'upstream' ? { TENANTSCOPE_OTLP_TRACE_ENCODER: 'upstream' } : {}),
        },
      });
    });

    after(async () => {
      await app?.stop();
      await receiver?.close();
    });

    it('delivers every span with its exact name, attributes and tenant', async () => {
      for (const [n, tenant] of REQUESTS) assert.equal(await get(app.port, `/reply?n=${n}`, tenant), 200);
      const exit = await app.stop();
      assert.equal(exit.code, 0, app.stderr());
      await receiver.waitFor(() => receiver.spans.length >= 2 * REQUESTS.length, 10_000, `${2 * REQUESTS.length} spans`);
      assert.deepEqual(receiver.errors, []);
      assert.equal(app.stderr(), '');
      const spans = receiver.spans;
      assert.equal(spans.length, 8);
      assert.ok(receiver.requests.every((r) => r === 'POST /v1/traces application/x-protobuf'), receiver.requests.join('\n'));
      for (const [n, tenant] of REQUESTS) {
        const own = spans.find((s) => s.name === 'compose reply' && s.attributes['reply.n'] === n);
        assert.ok(own !== undefined, `compose reply ${n}`);
        const server = spans.find((s) => s.spanId === own.parentSpanId);
        assert.ok(server !== undefined, `server span of ${n}`);
        assert.equal(server.traceId, own.traceId);
        assert.deepEqual([server.name, server.kind, server.scope, server.attributes['url.query'], server.attributes['tenant.id']], ['GET', 2, 'tenantscope-instrumentation-http-server', `n=${n}`, tenant]);
        assert.equal(own.kind, 1);
        assert.equal(own.scope, 'encoder-app');
        assert.deepEqual(own.attributes, {
          'reply.n': n,
          'reply.text': `ünïcødé ✓ 🚀 ${n}`,
          'reply.long': 'L'.repeat(100),
          'reply.big': 2 ** 60 + n * 1024,
          'reply.ratio': n / 4,
          'reply.ok': n % 2 === 0,
          'reply.tags': ['a', 'b', String(n)],
          'reply.empty': [],
          'tenant.id': tenant,
        });
        assert.deepEqual(own.events, [{ name: 'chunk', attributes: { 'chunk.index': n, 'chunk.last': true } }]);
        assert.deepEqual(own.status, n % 2 === 1 ? { code: 2, message: `odd ${n} ✗` } : { code: 0, message: '' });
        assert.equal(own.resource['service.name'], 'encoder-app');
      }
      runs.set(encoder, spans);
    });
  });
}

describe('both encoders', () => {
  it('delivered the same spans', () => {
    const sorted = (e: string): unknown[] =>
      runs
        .get(e)!
        .map(stable)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    assert.equal(runs.size, 2);
    assert.deepEqual(sorted('lean'), sorted('upstream'));
  });
});
