/**
 * PrometheusServer under scrape storms and bad clients (issue 12), over real loopback HTTP: concurrent scrapes share
 * one serialisation, a result younger than the cache time is served again, a bounded number of scrapes is answered
 * at once (the rest wait in a bounded line, past it 503), and a client that never reads is cut off. The app-level
 * effect of a storm (throughput ratio) is a benchmark row in bench/scrape.bench.ts, not a timed test.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_SPAN_DURATION } from '../../src/core/semconv';
import { PrometheusServer, type PrometheusServerOptions } from '../../src/prometheus/PrometheusServer';

async function setup(series: number, options: Partial<PrometheusServerOptions> = {}) {
  const resource = resourceFromAttributes({ 'service.name': 'svc' });
  const store = new MetricStore(resource);
  const family = store.histogram(METRIC_SPAN_DURATION);
  for (let i = 0; i < series; i++) family.get(['svc', `GET /r${i % 30}`, 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET', `tenant-${Math.floor(i / 30)}`]).record(3);
  const server = new PrometheusServer({ host: '127.0.0.1', port: 0, store, ...options });
  const provider = new MeterProvider({ resource, readers: [server] });
  let serialisations = 0;
  const serialize = server.serialize.bind(server);
  server.serialize = (write) => {
    serialisations++;
    return serialize(write);
  };
  const port = (await server.port) as number;
  return { server, provider, port, family, serialisations: () => serialisations };
}

function get(port: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
    })
      .on('error', reject)
      .end();
  });
}

test('20 concurrent scrapes share one serialisation and get the same exposition', async () => {
  const s = await setup(3000, { minIntervalMillis: 0, maxConcurrent: 20, cacheMillis: 60_000 });
  try {
    const results = await Promise.all(Array.from({ length: 20 }, () => get(s.port)));
    assert.equal(s.serialisations(), 1);
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
    assert.equal(new Set(results.map((r) => r.text)).size, 1);
    assert.equal(results[0].text.split('\n').filter((l) => l.startsWith('traces_span_metrics_duration_milliseconds_count{')).length, 3000);
  } finally {
    await s.provider.shutdown();
  }
});

test('a result younger than the cache time is served again; an older one is serialised anew with new values', async () => {
  const s = await setup(10, { minIntervalMillis: 0, cacheMillis: 300 });
  try {
    const a = await get(s.port);
    s.family.get(['svc', 'GET /r0', 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET', 'tenant-0']).record(3);
    const b = await get(s.port);
    assert.equal(s.serialisations(), 1);
    assert.equal(b.text, a.text);
    await new Promise((r) => setTimeout(r, 350));
    const c = await get(s.port);
    assert.equal(s.serialisations(), 2);
    assert.notEqual(c.text, a.text);
    assert.match(c.text, /tenant_id="tenant-0"\} 2\n/);
  } finally {
    await s.provider.shutdown();
  }
});

test('at most maxConcurrent answers at once, maxQueued waiting; the rest get 503 with Retry-After', async () => {
  const s = await setup(10, { maxConcurrent: 1, maxQueued: 2, minIntervalMillis: 200 });
  try {
    const results = await Promise.all(Array.from({ length: 6 }, () => get(s.port)));
    assert.deepEqual(
      results.map((r) => r.status).sort(),
      [200, 200, 200, 503, 503, 503]
    );
    // Two waited for the pacing interval, and still got the (cached) exposition.
    assert.equal(s.serialisations(), 1);
  } finally {
    await s.provider.shutdown();
  }
});

test('a client that sends a request and never reads is cut off after the idle timeout; scrapes go on', async () => {
  // About 30 MB of text: far more than the socket buffers hold, so the answer stalls on the silent client.
  const s = await setup(3000 * 3, { idleTimeoutMillis: 300, minIntervalMillis: 0, maxBytesPerSecond: Infinity });
  try {
    const sock = connect(s.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.on('error', () => undefined);
    sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.pause();
    const deadline = Date.now() + 10_000;
    while (s.server.answering === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.server.answering, 1);
    while (s.server.answering > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.server.answering, 0, 'the silent client still holds an answer');
    sock.resume();
    await closed;
    const r = await get(s.port);
    assert.equal(r.status, 200);
  } finally {
    await s.provider.shutdown();
  }
});
