/**
 * Out of process: test/fixtures/live-app.js (node:http, a `ws` WebSocket endpoint, a server-sent-events stream)
 * under `node --require ./register.js`, real `ws` clients and fetch. `websocket_connections_active` follows
 * upgrades as they open and close and returns to zero; a rejected upgrade is not counted; a `setTenant()` during
 * the upgrade counts. A streamed response gets `http.response.time_to_first_byte` on its server span (OTLP) and
 * `http_response_first_byte_seconds` (/metrics); a response sent whole gets neither.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';

const SERVICE = 'live-app';
const SERVER = 2;

type Samples = ReturnType<typeof parseMetrics>;

describe('WebSockets and streamed responses under --require', () => {
  let app: RunningFixture;
  let metricsPort: number;
  let receiver: OtlpReceiver;

  before(async () => {
    receiver = await startOtlpReceiver();
    metricsPort = await freePort();
    app = await startFixture('live-app.js', {
      env: {
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
    });
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
  });

  /** websocket_connections_active by tenant. */
  const gauge = (s: Samples): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const x of s) if (x.name === 'websocket_connections_active') out[`${x.labels.tenant_id}|${x.labels.service}`] = x.value;
    return out;
  };

  /** Scrapes until the gauge equals `expected` (it follows socket closes, which lag the client's by a moment). */
  async function gaugeBecomes(expected: Record<string, number>): Promise<void> {
    const end = Date.now() + 10_000;
    let last: Record<string, number> = {};
    while (Date.now() < end) {
      last = gauge(parseMetrics(await scrape(metricsPort)));
      if (JSON.stringify(last) === JSON.stringify(expected)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(last, expected);
  }

  function connect(headers: Record<string, string>, query = ''): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${app.port}/ws${query}`, { headers });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  }

  const closed = (ws: WebSocket): Promise<void> => new Promise((r) => (ws.readyState === WebSocket.CLOSED ? r() : ws.once('close', () => r())));

  it('websocket_connections_active follows upgrades as they open and close, and returns to zero', async () => {
    const a1 = await connect({ 'x-tenant-id': 'acme' });
    const a2 = await connect({ 'x-tenant-id': 'acme' });
    // No header: the app sets the tenant while it handles the upgrade.
    const g1 = await connect({}, '?tenant=globex');
    // Rejected with a 401 before any 101: never counted.
    await assert.rejects(connect({ 'x-tenant-id': 'acme', 'x-reject': '1' }), /401/);
    // An echo round trip on each: the connections work.
    for (const ws of [a1, a2, g1]) {
      const echoed = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
      ws.send('ping');
      assert.equal(await echoed, 'ping');
    }
    await gaugeBecomes({ [`acme|${SERVICE}`]: 2, [`globex|${SERVICE}`]: 1 });

    // The client closes one; the server closes another.
    a1.close();
    g1.send('bye');
    await Promise.all([closed(a1), closed(g1)]);
    await gaugeBecomes({ [`acme|${SERVICE}`]: 1, [`globex|${SERVICE}`]: 0 });

    // A connection that just drops (no close handshake).
    a2.terminate();
    await gaugeBecomes({ [`acme|${SERVICE}`]: 0, [`globex|${SERVICE}`]: 0 });
  });

  it('a streamed response (SSE) gets its time to first byte on the span and in http_response_first_byte_seconds', async () => {
    const get = async (path: string): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${app.port}${path}`, { headers: { 'x-tenant-id': 'acme' } });
      return r.text();
    };
    const [s1, s2, plain] = await Promise.all([get('/stream?n=1'), get('/stream?n=2'), get('/plain')]);
    assert.ok(s1.startsWith('data: 0\n\n') && s2.startsWith('data: 0\n\n'), s1);
    assert.equal(plain, '{"ok":true}');

    await receiver.waitFor(() => receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === SERVICE).length >= 3, 15_000, 'three server spans');
    const servers = receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === SERVICE);
    const streams = servers.filter((s) => String(s.attributes['url.path']) === '/stream');
    const plains = servers.filter((s) => String(s.attributes['url.path']) === '/plain');
    assert.equal(streams.length, 2);
    assert.equal(plains.length, 1);
    for (const s of streams) {
      const ttfb = s.attributes['http.response.time_to_first_byte'];
      assert.equal(typeof ttfb, 'number');
      // The fixture writes its first event after 600 ms and ends at 3 s: the first byte is 0.6 s in, well before the end.
      // Node counts a timer's 600 ms from the event loop's cached time, which can be up to a few ms before the request's
      // span started (a CI run read 0.59999 s), so the lower bound leaves 10 ms.
      assert.ok((ttfb as number) >= 0.59 && (ttfb as number) < 2, `ttfb ${String(ttfb)} s`);
    }
    assert.equal(plains[0].attributes['http.response.time_to_first_byte'], undefined);

    const m = parseMetrics(await scrape(metricsPort));
    const labels = { method: 'GET', endpoint: '/stream', tenant_id: 'acme', service: SERVICE };
    assert.equal(sumOf(m, 'http_response_first_byte_seconds_count', labels), 2);
    // Same buckets as http_request_duration_seconds: first bytes in (0.5, 1], whole streams in (2.5, 5].
    const bucket = (name: string, le: string): number => sumOf(m, name, { ...labels, le });
    assert.deepEqual(
      ['0.5', '1', '2.5', '5'].map((le) => bucket('http_response_first_byte_seconds_bucket', le)),
      [0, 2, 2, 2]
    );
    assert.deepEqual(
      ['0.5', '1', '2.5', '5'].map((le) => bucket('http_request_duration_seconds_bucket', le)),
      [0, 0, 0, 2]
    );
    // A response sent whole is not streamed: no first-byte series.
    assert.equal(sumOf(m, 'http_response_first_byte_seconds_count', { endpoint: '/plain' }), 0);
    assert.equal(sumOf(m, 'http_requests_total', { endpoint: '/plain', tenant_id: 'acme' }), 1);
  });
});
