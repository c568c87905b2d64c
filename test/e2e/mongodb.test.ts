/**
 * The mongodb instrumentation under the preload, with the real `mongodb` driver. MongoDB cannot run on these
 * machines, so by default the driver talks to a wire-protocol STAND-IN (test/helpers/mongoPeer.ts); with
 * `MONGODB_URL` set the same test runs against that real server. Spans arrive on a loopback OTLP/JSON
 * receiver in this file; metrics come from the fixture's own /metrics.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startMongoPeer, type MongoPeer } from '../helpers/mongoPeer';
import { freePort } from '../helpers/services';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** OTLP span kinds on the wire are the API's SpanKind + 1. */
const KIND_SERVER = 2;
const KIND_CLIENT = 3;

function attr(span: OtlpSpan, key: string): unknown {
  const a = span.attributes?.find((x) => x.key === key);
  if (a === undefined) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
}

/** A loopback OTLP/HTTP JSON receiver for traces: collects every span it is sent. */
async function startOtlpJsonReceiver(): Promise<{ url: string; spans: OtlpSpan[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const msg = JSON.parse(body) as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
        for (const rs of msg.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const realServer = process.env.MONGODB_URL;
const label = realServer === undefined ? 'against the wire-protocol stand-in (no MongoDB here)' : 'against the real server at MONGODB_URL';

let peer: MongoPeer | undefined;
let receiver: Awaited<ReturnType<typeof startOtlpJsonReceiver>>;
let app: RunningFixture;
let metricsPort: number;
const dbName = `tenantscope_test_${process.pid}_${Date.now()}`;

/** What the test sends: tenant → [POSTs, GETs]. */
const TRAFFIC: [string | undefined, number, number][] = [
  ['acme', 3, 2],
  ['globex', 1, 1],
  [undefined, 0, 1],
];

before(async () => {
  if (realServer === undefined) peer = await startMongoPeer();
  receiver = await startOtlpJsonReceiver();
  metricsPort = await freePort();
  app = await startFixture('mongo-app.js', {
    env: {
      MONGODB_URL: realServer ?? peer!.url,
      MONGO_DB: dbName,
      OTEL_SERVICE_NAME: 'mongo-app',
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,mongodb',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    },
  });
  for (const [tenant, posts, gets] of TRAFFIC) {
    const headers: Record<string, string> = tenant === undefined ? {} : { 'x-tenant-id': tenant };
    for (let i = 0; i < posts; i++) {
      const r = await fetch(`http://127.0.0.1:${app.port}/messages`, { method: 'POST', headers });
      assert.equal(r.status, 201, await r.text());
    }
    for (let i = 0; i < gets; i++) {
      const r = await fetch(`http://127.0.0.1:${app.port}/messages`, { headers });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { count: posts });
    }
  }
});

after(async () => {
  await app?.stop();
  await receiver?.close();
  await peer?.close();
  if (realServer !== undefined) {
    const { MongoClient } = require('mongodb') as typeof import('mongodb');
    const c = new MongoClient(realServer);
    await c.db(dbName).dropDatabase().catch(() => undefined);
    await c.close();
  }
});

test(`mongodb client spans are counted per tenant in traces_span_metrics_calls_total (${label})`, async () => {
  const samples = parseMetrics(await scrape(metricsPort));
  const calls = (spanName: string, tenant: string): number =>
    sumOf(samples, 'traces_span_metrics_calls_total', {
      service_name: 'mongo-app',
      span_name: spanName,
      span_kind: 'SPAN_KIND_CLIENT',
      status_code: 'STATUS_CODE_UNSET',
      tenant_id: tenant,
    });
  assert.equal(calls('insert messages', 'acme'), 3);
  assert.equal(calls('find messages', 'acme'), 2);
  assert.equal(calls('insert messages', 'globex'), 1);
  assert.equal(calls('find messages', 'globex'), 1);
  assert.equal(calls('insert messages', 'unknown'), 0);
  assert.equal(calls('find messages', 'unknown'), 1);
  // Nothing else became a mongodb client span (no handshake, heartbeat or session commands).
  const clientSpans = samples.filter((s) => s.name === 'traces_span_metrics_calls_total' && s.labels.span_kind === 'SPAN_KIND_CLIENT');
  assert.equal(clientSpans.reduce((n, s) => n + s.value, 0), 8);
  // And the server spans of the same requests: 4 + 2 + 1.
  assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER', tenant_id: 'acme' }), 5);
  assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER', tenant_id: 'globex' }), 2);
  assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER', tenant_id: 'unknown' }), 1);
});

test(`mongodb spans carry the request's tenant.id and are children of its server span (${label})`, async () => {
  // SIGTERM: the app closes its server and client; the preload flushes spans as the process ends.
  const exit = await app.stop();
  assert.equal(exit.code, 0, app.stderr());
  const deadline = Date.now() + 10_000;
  while (receiver.spans.filter((s) => s.kind === KIND_CLIENT).length < 8 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const mongoSpans = receiver.spans.filter((s) => attr(s, 'db.system.name') === 'mongodb');
  assert.equal(mongoSpans.length, 8);
  const byId = new Map(receiver.spans.map((s) => [s.spanId, s]));
  const seen: Record<string, number> = {};
  for (const s of mongoSpans) {
    assert.equal(s.kind, KIND_CLIENT);
    const op = attr(s, 'db.operation.name');
    assert.ok(op === 'insert' || op === 'find', `unexpected operation ${String(op)}`);
    assert.equal(s.name, `${String(op)} messages`);
    assert.equal(attr(s, 'db.collection.name'), 'messages');
    assert.equal(attr(s, 'db.namespace'), dbName);
    const parent = byId.get(s.parentSpanId ?? '');
    assert.ok(parent !== undefined, `span ${s.name} has no exported parent`);
    assert.equal(parent.kind, KIND_SERVER);
    assert.equal(parent.traceId, s.traceId);
    assert.equal(attr(s, 'tenant.id'), attr(parent, 'tenant.id'));
    const key = `${String(attr(s, 'tenant.id'))} ${s.name}`;
    seen[key] = (seen[key] ?? 0) + 1;
  }
  assert.deepEqual(seen, {
    'acme insert messages': 3,
    'acme find messages': 2,
    'globex insert messages': 1,
    'globex find messages': 1,
    'unknown find messages': 1,
  });
  if (peer !== undefined) {
    // The stand-in saw the same operations, so the spans describe real round trips.
    assert.equal(peer.commands.filter((c) => c === 'insert').length, 4);
    assert.equal(peer.commands.filter((c) => c === 'find').length, 4);
  }
});
