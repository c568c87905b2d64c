/**
 * Sampling with exact metrics (issue 4), out of process: test/fixtures/sampling-app.js (express, real pg and
 * ioredis) runs under `--require register.js`, exports traces over OTLP/protobuf to a loopback receiver in this
 * file and serves its metrics on /metrics. At ratio 0.1 the metrics must equal what was sent, clean traces must
 * be exported at ~10%, and error and slow traces always and whole. Every request of the fixture is one local
 * trace of exactly four spans: server, express request handler, pg query, redis get.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';

const KIND_SERVER = 2;
const PG_SPAN = /^pg\.query:SELECT /;
const TENANTS = ['acme', 'globex', 'initech'];
const LATE_TENANTS = ['late-a', 'late-b'];
/** Per header tenant. */
const OK = 600;
const ERRORS = 20;
const SLOW = 8;
/** Per late tenant (tenant known only after the auth query). */
const AUTH_OK = 150;
const AUTH_FAIL = 3;
const RATIO = 0.1;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** GET over a keep-alive agent; resolves with the status. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Req {
  path: string;
  headers: Record<string, string>;
  expect: number;
}

/** Sends `reqs` with `concurrency` workers; bounded by the list and by `budgetMs`. */
async function send(port: number, reqs: Req[], concurrency: number, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      if (Date.now() > deadline) throw new Error(`traffic took longer than ${budgetMs} ms (${next}/${reqs.length} sent)`);
      const r = reqs[next++];
      const status = await get(port, r.path, r.headers);
      assert.equal(status, r.expect, r.path);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Deterministic shuffle (mulberry32), so every run sends the same interleaving. */
function shuffle<T>(xs: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

function fixtureEnv(receiver: OtlpReceiver | undefined, metricsPort: number, extra: Record<string, string>): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: 'sampling-app',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express,pg,ioredis',
    OTEL_TRACES_EXPORTER: receiver === undefined ? 'none' : 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver?.endpoint ?? 'http://127.0.0.1:9',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    TENANTSCOPE_KEEP_SLOW_MS: '50',
    SLOW_MS: '80',
    ...extra,
  };
}

/** The self-metrics: seen, exported by reason, dropped by reason, flushed early by reason. */
function selfMetrics(samples: ReturnType<typeof parseMetrics>): {
  seen: number;
  exported: number;
  dropped: number;
  byReason: (name: string, reason: string) => number;
} {
  return {
    seen: sumOf(samples, 'tenantscope_spans_seen_total'),
    exported: sumOf(samples, 'tenantscope_spans_exported_total'),
    dropped: sumOf(samples, 'tenantscope_spans_dropped_total'),
    byReason: (name, reason) => sumOf(samples, name, { reason }),
  };
}

function attr(s: ReceivedSpan, key: string): unknown {
  return s.attributes[key];
}

describe('traceidratio 0.1 with keep rules', () => {
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let metricsPort: number;
  let samples: ReturnType<typeof parseMetrics>;
  /** Received local traces: trace id → spans. */
  const traces = new Map<string, ReceivedSpan[]>();

  before(async () => {
    receiver = await startOtlpReceiver();
    metricsPort = await freePort();
    app = await startFixture('sampling-app.js', {
      env: fixtureEnv(receiver, metricsPort, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: String(RATIO) }),
    });
    const reqs: Req[] = [];
    for (const t of TENANTS) {
      const headers = { 'x-tenant-id': t };
      for (let i = 0; i < OK; i++) reqs.push({ path: '/ok', headers, expect: 200 });
      for (let i = 0; i < ERRORS; i++) reqs.push({ path: '/error', headers, expect: 500 });
      for (let i = 0; i < SLOW; i++) reqs.push({ path: '/slow', headers, expect: 200 });
    }
    for (const t of LATE_TENANTS) {
      for (let i = 0; i < AUTH_OK; i++) reqs.push({ path: `/auth/${t}`, headers: {}, expect: 200 });
      for (let i = 0; i < AUTH_FAIL; i++) reqs.push({ path: `/auth/${t}?fail=1`, headers: {}, expect: 500 });
    }
    await send(app.port, shuffle(reqs, 4), 16, 30_000);
    // Every exported span reaches the receiver (the batch processor exports every 5 s or per 512 spans).
    samples = parseMetrics(await scrape(metricsPort));
    const exported = selfMetrics(samples).exported;
    await receiver.waitFor(() => receiver.spans.length >= exported, 15_000, `${exported} spans`);
    for (const s of receiver.spans) {
      let list = traces.get(s.traceId);
      if (list === undefined) traces.set(s.traceId, (list = []));
      list.push(s);
    }
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
  });

  /** Exported request traces (those with a server span), with their server span. */
  function requestTraces(): { server: ReceivedSpan; spans: ReceivedSpan[] }[] {
    const out: { server: ReceivedSpan; spans: ReceivedSpan[] }[] = [];
    for (const spans of traces.values()) {
      const server = spans.find((s) => s.kind === KIND_SERVER);
      if (server !== undefined) out.push({ server, spans });
    }
    return out;
  }

  test('/metrics counts every request exactly, per tenant, endpoint and status', () => {
    const requests = (tenant: string, endpoint: string, status: string): number =>
      sumOf(samples, 'http_requests_total', { tenant_id: tenant, endpoint, status, service: 'sampling-app' });
    for (const t of TENANTS) {
      assert.equal(requests(t, '/ok', '200'), OK, t);
      assert.equal(requests(t, '/error', '500'), ERRORS, t);
      assert.equal(requests(t, '/slow', '200'), SLOW, t);
      assert.equal(sumOf(samples, 'errors_total', { tenant_id: t }), ERRORS, t);
      assert.equal(sumOf(samples, 'http_request_duration_seconds_count', { tenant_id: t }), OK + ERRORS + SLOW, t);
      // Every request's redis GET and pg query, whatever the sampler decided.
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_name: 'get', tenant_id: t }), OK + ERRORS + SLOW, t);
    }
    for (const t of LATE_TENANTS) {
      assert.equal(requests(t, '/auth/:token', '200'), AUTH_OK, t);
      assert.equal(requests(t, '/auth/:token', '500'), AUTH_FAIL, t);
      assert.equal(sumOf(samples, 'errors_total', { tenant_id: t }), AUTH_FAIL, t);
    }
    const total = TENANTS.length * (OK + ERRORS + SLOW) + LATE_TENANTS.length * (AUTH_OK + AUTH_FAIL);
    assert.equal(sumOf(samples, 'http_requests_total'), total);
    assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: 'unknown' }), 0);
    assert.equal(
      sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER', status_code: 'STATUS_CODE_ERROR' }),
      TENANTS.length * ERRORS + LATE_TENANTS.length * AUTH_FAIL
    );
  });

  test('the auth query that ran before setTenant carries the late tenant, on its spans and in its spanmetrics', () => {
    const pgCalls = samples.filter((s) => s.name === 'traces_span_metrics_calls_total' && PG_SPAN.test(s.labels.span_name));
    const byTenant: Record<string, number> = {};
    for (const s of pgCalls) byTenant[s.labels.tenant_id] = (byTenant[s.labels.tenant_id] ?? 0) + s.value;
    const expected: Record<string, number> = {};
    for (const t of TENANTS) expected[t] = OK + ERRORS + SLOW;
    for (const t of LATE_TENANTS) expected[t] = AUTH_OK + AUTH_FAIL;
    // No pg span of a request is left under "unknown" (the startup connect is a different span name).
    assert.deepEqual(byTenant, expected);

    let authTraces = 0;
    let failTraces = 0;
    for (const { server, spans } of requestTraces()) {
      const path = String(attr(server, 'url.path'));
      if (!path.startsWith('/auth/')) continue;
      authTraces++;
      if (attr(server, 'http.response.status_code') === 500) failTraces++;
      const token = path.slice('/auth/'.length);
      const pgSpan = spans.find((s) => PG_SPAN.test(s.name));
      assert.ok(pgSpan !== undefined, `auth trace ${server.traceId} has no pg span`);
      assert.equal(attr(pgSpan, 'db.query.text'), 'SELECT $1::text AS tenant');
      for (const s of spans) assert.equal(attr(s, 'tenant.id'), token, `${s.name} of ${path}`);
    }
    // Every failing auth trace is kept by the error rule; at 10% of 300 clean ones, some were sampled.
    assert.equal(failTraces, LATE_TENANTS.length * AUTH_FAIL);
    assert.ok(authTraces > failTraces, `only ${authTraces} auth traces exported`);
  });

  test('every error trace and every slow trace is exported whole: server, express, pg and redis spans', () => {
    const found = { error: 0, slow: 0 };
    for (const { server, spans } of requestTraces()) {
      const status = attr(server, 'http.response.status_code');
      const path = String(attr(server, 'url.path'));
      const reason = status === 500 ? 'error' : path === '/slow' ? 'slow' : undefined;
      if (reason === undefined) continue;
      found[reason]++;
      assert.deepEqual(
        spans.map((s) => (PG_SPAN.test(s.name) ? 'pg.query:SELECT' : s.name)).sort(),
        [server.name, 'get', 'pg.query:SELECT', 'request handler'].sort(),
        `trace of ${path}`
      );
      // Whole: the server span is the local root and every other span's parent was exported with it.
      const ids = new Set(spans.map((s) => s.spanId));
      for (const s of spans) if (s !== server) assert.ok(ids.has(s.parentSpanId), `${s.name} of ${path} lost its parent`);
      assert.equal(server.parentSpanId, '');
      // Kept by rule, or sampled by the ratio: the same for every span of the trace.
      const keptBy = new Set(spans.map((s) => attr(s, 'tenantscope.kept_by')));
      assert.equal(keptBy.size, 1, `mixed kept_by in ${path}: ${[...keptBy].join(',')}`);
      const k = [...keptBy][0];
      assert.ok(k === undefined || k === reason, `kept_by=${String(k)} on ${path}`);
    }
    assert.equal(found.error, TENANTS.length * ERRORS + LATE_TENANTS.length * AUTH_FAIL);
    assert.equal(found.slow, TENANTS.length * SLOW);
    // The counters by reason equal the spans that arrived with that kept_by (clean requests slower than the
    // 50 ms threshold under load are kept by the slow rule too).
    const self = selfMetrics(samples);
    const arrived = (reason: string): number => receiver.spans.filter((s) => attr(s, 'tenantscope.kept_by') === reason).length;
    assert.ok(arrived('error') >= 4, `${arrived('error')} spans kept by the error rule`);
    assert.equal(self.byReason('tenantscope_spans_exported_total', 'error'), arrived('error'));
    assert.equal(self.byReason('tenantscope_spans_exported_total', 'slow'), arrived('slow'));
    assert.equal(self.byReason('tenantscope_spans_exported_total', 'sampled'), receiver.spans.length - arrived('error') - arrived('slow'));
    assert.equal(self.byReason('tenantscope_spans_exported_total', 'cost'), 0);
  });

  test('clean request traces are exported at the sampling ratio (binomial bound, 4.5 sigma), each one whole', () => {
    const clean = TENANTS.length * OK + LATE_TENANTS.length * AUTH_OK;
    let exported = 0;
    for (const { server, spans } of requestTraces()) {
      const path = String(attr(server, 'url.path'));
      if (attr(server, 'http.response.status_code') !== 200 || path === '/slow') continue;
      assert.equal(spans.length, 4, `trace of ${path}`);
      // A clean request slower than the 50 ms threshold under load is kept by the slow rule when the sampler
      // dropped it; the ratio is measured on the sampler's own picks (no kept_by), which ignore slowness.
      const keptBy = new Set(spans.map((s) => attr(s, 'tenantscope.kept_by')));
      assert.equal(keptBy.size, 1, `mixed kept_by in ${path}`);
      const k = [...keptBy][0];
      assert.ok(k === undefined || k === 'slow', `kept_by=${String(k)} on clean ${path}`);
      if (k === undefined) exported++;
    }
    const mean = clean * RATIO;
    const sigma = Math.sqrt(clean * RATIO * (1 - RATIO));
    assert.ok(Math.abs(exported - mean) <= 4.5 * sigma, `${exported} of ${clean} clean traces exported; expected ${mean} ± ${(4.5 * sigma).toFixed(1)}`);
  });

  test('self-metrics: seen = exported + dropped, exported = spans received, nothing flushed early', () => {
    const self = selfMetrics(samples);
    const requests = TENANTS.length * (OK + ERRORS + SLOW) + LATE_TENANTS.length * (AUTH_OK + AUTH_FAIL);
    // Four spans per request, plus the pg client's connect span at startup.
    assert.equal(self.seen, requests * 4 + 1);
    assert.equal(self.seen, self.exported + self.dropped);
    assert.equal(self.byReason('tenantscope_spans_dropped_total', 'export_off'), 0);
    assert.equal(receiver.spans.length, self.exported);
    assert.equal(receiver.errors.length, 0, receiver.errors.join('\n'));
    assert.equal(sumOf(samples, 'tenantscope_local_traces_flushed_early_total'), 0);
    assert.equal(sumOf(samples, 'traces_span_metrics_calls_total'), self.seen);
  });
});

describe('always_off', () => {
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let metricsPort: number;

  before(async () => {
    receiver = await startOtlpReceiver();
    metricsPort = await freePort();
    app = await startFixture('sampling-app.js', { env: fixtureEnv(receiver, metricsPort, { OTEL_TRACES_SAMPLER: 'always_off' }) });
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
  });

  test('exports nothing at all, not even error or slow traces, while metrics stay exact', async () => {
    const reqs: Req[] = [];
    for (const t of TENANTS) {
      const headers = { 'x-tenant-id': t };
      for (let i = 0; i < 50; i++) reqs.push({ path: '/ok', headers, expect: 200 });
      for (let i = 0; i < 5; i++) reqs.push({ path: '/error', headers, expect: 500 });
      for (let i = 0; i < 2; i++) reqs.push({ path: '/slow', headers, expect: 200 });
    }
    for (let i = 0; i < 4; i++) reqs.push({ path: '/auth/late-a?fail=1', headers: {}, expect: 500 });
    await send(app.port, shuffle(reqs, 7), 8, 20_000);
    const samples = parseMetrics(await scrape(metricsPort));
    for (const t of TENANTS) {
      assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: t, endpoint: '/ok', status: '200' }), 50);
      assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: t, endpoint: '/error', status: '500' }), 5);
      assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: t, endpoint: '/slow', status: '200' }), 2);
    }
    assert.equal(sumOf(samples, 'errors_total', { tenant_id: 'late-a' }), 4);
    const self = selfMetrics(samples);
    assert.equal(self.seen, reqs.length * 4 + 1);
    assert.equal(self.byReason('tenantscope_spans_dropped_total', 'export_off'), self.seen);
    assert.equal(self.exported, 0);
    // Stop the app: the preload flushes on its way out; still nothing may arrive.
    const exit = await app.stop();
    assert.equal(exit.code, 0, app.stderr());
    assert.deepEqual(
      receiver.requests.filter((r) => r.includes('/v1/traces')),
      []
    );
    assert.equal(receiver.spans.length, 0);
  });
});

describe('leaked local roots', () => {
  let app: RunningFixture;
  let metricsPort: number;
  const BUFFER_MAX = 500;
  const CHILDREN = 10;

  before(async () => {
    metricsPort = await freePort();
    app = await startFixture('sampling-app.js', {
      env: fixtureEnv(undefined, metricsPort, {
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
        TENANTSCOPE_BUFFER_MAX_SPANS: String(BUFFER_MAX),
        // For a heap figure after a full collection (/rss?gc=1).
        NODE_OPTIONS: '--expose-gc',
      }),
    });
  });

  after(async () => {
    await app?.stop();
  });

  /** Spans held in the buffer, from the counters: seen but neither exported nor dropped yet. */
  function buffered(samples: ReturnType<typeof parseMetrics>): number {
    const s = selfMetrics(samples);
    return s.seen - s.exported - s.dropped;
  }

  test('roots that never end are decided at the buffer bound: the buffer stays bounded and every decided span is counted', async () => {
    const rounds: { flushed: number; held: number; rss: number; heapUsed: number }[] = [];
    for (let round = 1; round <= 3; round++) {
      const reqs: Req[] = [];
      for (let i = 0; i < 1000; i++) reqs.push({ path: `/leak?children=${CHILDREN}`, headers: { 'x-tenant-id': 'leaky' }, expect: 200 });
      // One at a time: only leaked local traces are open between requests.
      await send(app.port, reqs, 1, 20_000);
      // A round can take under a second, and /metrics serves a result younger than 1 s again (issue 12): scrape
      // until the exposition counts this round's requests, then check it.
      let samples: ReturnType<typeof parseMetrics> = [];
      for (const end = Date.now() + 5000; ; ) {
        samples = parseMetrics(await scrape(metricsPort).catch((err: Error) => Promise.reject(new Error(`${err.message}; app stderr: ${app.stderr()}`))));
        if (sumOf(samples, 'http_requests_total', { endpoint: '/leak', tenant_id: 'leaky' }) === round * 1000 || Date.now() > end) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const flushed = sumOf(samples, 'tenantscope_local_traces_flushed_early_total', { reason: 'max_buffered' });
      const held = buffered(samples);
      const leakedChildren = round * 1000 * CHILDREN;
      assert.ok(held <= BUFFER_MAX, `${held} spans buffered`);
      // Every leaked child is either held (whole leaked traces) or was decided with its trace at the bound.
      assert.equal(held % CHILDREN, 0);
      assert.equal(flushed * CHILDREN + held, leakedChildren);
      assert.equal(sumOf(samples, 'tenantscope_local_traces_flushed_early_total'), flushed);
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_name: 'leaked-child', tenant_id: 'leaky' }), flushed * CHILDREN);
      assert.equal(sumOf(samples, 'http_requests_total', { endpoint: '/leak', tenant_id: 'leaky' }), round * 1000);
      const mem = await new Promise<{ rss: number; heapUsed: number }>((resolve, reject) => {
        request({ host: '127.0.0.1', port: app.port, path: '/rss?gc=1', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve(JSON.parse(body) as { rss: number; heapUsed: number }));
        })
          .on('error', reject)
          .end();
      });
      rounds.push({ flushed, held, rss: mem.rss, heapUsed: mem.heapUsed });
    }
    // The bound was reached in the first round; afterwards each round decides all its 1000 leaked traces.
    assert.ok(rounds[0].flushed >= 1000 - BUFFER_MAX / CHILDREN, `round 1 flushed ${rounds[0].flushed}`);
    for (let r = 1; r < rounds.length; r++) assert.equal(rounds[r].flushed - rounds[r - 1].flushed, 1000 + (rounds[r - 1].held - rounds[r].held) / CHILDREN);
    // Nothing grows with the leaked roots: the heap after a full collection is flat from round 1 to round 3
    // (measured ~0.1 MB; unbounded, 2,000 leaked traces of 10 spans would add tens of MB).
    const growth = rounds[2].heapUsed - rounds[0].heapUsed;
    assert.ok(growth < 4e6, `heap grew ${(growth / 1e6).toFixed(1)} MB over 2,000 leaked roots`);
    process.stdout.write(`# leaked roots: ${JSON.stringify(rounds)}\n`);
  });
});
