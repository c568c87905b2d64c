/**
 * Logs that say which trace and which tenant (issue 13), out of process: test/fixtures/log-app.js logs with pino
 * or winston under `--require register.js` and exports traces and logs to a loopback OTLP receiver in this file.
 * Each line written inside a request must carry the trace id and span id of the request's server span and the
 * request's tenant (header tenants, and the late `setTenant` value from the line after it on), on stdout and on
 * the shipped record. pino runs with TENANTSCOPE_TENANT_HASH_KEY and OTLP/protobuf, winston without a key and with
 * OTLP/JSON, so both export encodings and both tenant forms are covered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedLog, type ReceivedSpan } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

const KIND_SERVER = 2;
const SEVERITY_INFO = 9;
const HASH_KEY = 'log-test-hash-key-0123456789';

/** One request of the run and the tenant each of its lines must carry. */
interface Planned {
  rid: string;
  path: string;
  headers: Record<string, string>;
  /** step → raw tenant expected on that step's lines (`unknown` when there is none yet). */
  tenants: Record<string, string>;
  /** Lines per step. */
  n: number;
}

/** Two header tenants, then the late-tenant cases: no header, and a header the app's setTenant overrides. */
function plan(): Planned[] {
  const out: Planned[] = [];
  let i = 0;
  for (const t of ['acme', 'globex']) {
    for (let k = 0; k < 3; k++) {
      const rid = `w${i++}`;
      out.push({ rid, path: `/work?rid=${rid}&n=3`, headers: { 'x-tenant-id': t }, tenants: { work: t }, n: 3 });
    }
    for (let k = 0; k < 2; k++) {
      const rid = `l${i++}`;
      out.push({ rid, path: `/auth/${t}?rid=${rid}&n=2`, headers: {}, tenants: { before: 'unknown', after: t }, n: 2 });
    }
    const other = t === 'acme' ? 'globex' : 'acme';
    const rid = `o${i++}`;
    out.push({ rid, path: `/auth/${t}?rid=${rid}&n=2`, headers: { 'x-tenant-id': other }, tenants: { before: other, after: t }, n: 2 });
  }
  return out;
}

function linesPlanned(reqs: Planned[]): number {
  return reqs.reduce((sum, r) => sum + r.n * Object.keys(r.tenants).length, 0);
}

/** The JSON log lines of a fixture's stdout (the `LISTENING` line excluded). */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function get(port: number, path: string, headers: Record<string, string>): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  await r.text();
  return r.status;
}

/** Polls the fixture's /metrics until `check` holds on the samples; returns them. */
async function metricsWhen(port: number, check: (s: ReturnType<typeof parseMetrics>) => boolean, what: string, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let samples = parseMetrics(await scrape(port));
  while (!check(samples)) {
    if (Date.now() > deadline) throw new Error(`metrics: ${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
    samples = parseMetrics(await scrape(port));
  }
  return samples;
}

for (const logger of ['pino', 'winston'] as const) {
  const hashed = logger === 'pino';
  const registry = new TenantRegistry({ maxTenants: 100, hashKey: hashed ? HASH_KEY : undefined });
  /** The tenant as spans and logs carry it. */
  const carried = (raw: string): string => registry.spanId(raw === 'unknown' ? undefined : raw);

  describe(`${logger} under the preload (${hashed ? 'hashed tenants, OTLP/protobuf' : 'plain tenants, OTLP/JSON'})`, () => {
    const reqs = plan();
    const total = linesPlanned(reqs) + 1; // + the line written at start, outside any request
    let receiver: OtlpReceiver;
    let app: RunningFixture;
    let promPort: number;
    let lines: Record<string, unknown>[];
    const servers = new Map<string, ReceivedSpan>();

    before(async () => {
      receiver = await startOtlpReceiver();
      promPort = await freePort();
      app = await startFixture('log-app.js', {
        env: {
          LOGGER: logger,
          OTEL_SERVICE_NAME: `log-app-${logger}`,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: hashed ? 'http/protobuf' : 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OTEL_BLRP_SCHEDULE_DELAY: '50',
          OTEL_METRICS_EXPORTER: 'prometheus',
          OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
          OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
          TENANTSCOPE_TENANT_HASH_KEY: hashed ? HASH_KEY : undefined,
        },
      });
      // All at once: the requests' contexts interleave in the app.
      const statuses = await Promise.all(reqs.map((r) => get(app.port, r.path, r.headers)));
      assert.deepEqual(statuses, reqs.map(() => 200));
      await receiver.waitFor(
        () => receiver.spans.filter((s) => s.kind === KIND_SERVER).length === reqs.length && receiver.logs.length === total,
        15000,
        `${reqs.length} server spans and ${total} log records`
      );
      for (const s of receiver.spans) {
        if (s.kind !== KIND_SERVER) continue;
        const rid = /(?:^|&)rid=([^&]+)/.exec(String(s.attributes['url.query']))?.[1];
        if (rid !== undefined) servers.set(rid, s);
      }
      lines = jsonLines(app.stdout());
    });

    after(async () => {
      await app?.stop();
      await receiver?.close();
    });

    test('every line written in a request has the trace id and span id of its server span and the request\'s tenant', () => {
      assert.equal(servers.size, reqs.length);
      const inRequests = lines.filter((l) => l.rid !== undefined);
      assert.equal(inRequests.length, total - 1);
      for (const r of reqs) {
        const server = servers.get(r.rid) as ReceivedSpan;
        const mine = inRequests.filter((l) => l.rid === r.rid);
        assert.equal(mine.length, r.n * Object.keys(r.tenants).length, r.rid);
        for (const l of mine) {
          assert.equal(l.trace_id, server.traceId, r.rid);
          assert.equal(l.span_id, server.spanId, r.rid);
          assert.equal(l.trace_flags, '01', r.rid);
          assert.equal(l.tenant_id, carried(r.tenants[String(l.step)]), `${r.rid} ${String(l.step)}`);
        }
        // The server span itself ends with the request's final tenant.
        assert.equal(server.attributes['tenant.id'], carried(Object.values(r.tenants).at(-1) as string), r.rid);
      }
    });

    test(hashed ? 'with a hash key no raw tenant id appears in the output' : 'grep stdout for tenant_id finds each tenant\'s lines', () => {
      const out = app.stdout();
      if (hashed) {
        assert.ok(!/acme|globex/.test(out.replace(/"msg":"[^"]*"/g, '')), 'a raw tenant id is in a field');
        assert.ok(out.includes(`"tenant_id":"${carried('acme')}"`));
      } else {
        assert.equal(out.split('\n').filter((l) => l.includes('"tenant_id":"acme"')).length, 3 * 3 + 2 * 2 + 2 + 2);
        assert.equal(out.split('\n').filter((l) => l.includes('"tenant_id":"globex"')).length, 3 * 3 + 2 * 2 + 2 + 2);
      }
    });

    test('the line written outside any request has no trace or tenant fields', () => {
      const start = lines.filter((l) => l.step === 'start');
      assert.equal(start.length, 1);
      for (const key of ['trace_id', 'span_id', 'trace_flags', 'tenant_id']) assert.equal(start[0][key], undefined, key);
    });

    test('every shipped record names its request\'s exported server span and its tenant, with severity and the body as written', () => {
      const byRid = new Map(reqs.map((r) => [r.rid, r]));
      const shipped = receiver.logs.filter((l) => l.attributes.rid !== undefined);
      assert.equal(shipped.length, total - 1);
      const exportedSpans = new Set(receiver.spans.map((s) => `${s.traceId}/${s.spanId}`));
      for (const rec of shipped) {
        const r = byRid.get(String(rec.attributes.rid)) as Planned;
        const server = servers.get(r.rid) as ReceivedSpan;
        assert.ok(exportedSpans.has(`${rec.traceId}/${rec.spanId}`), `${r.rid}: record names a span that was not exported`);
        assert.equal(rec.traceId, server.traceId, r.rid);
        assert.equal(rec.spanId, server.spanId, r.rid);
        assert.equal(rec.traceFlags, 1, r.rid);
        assert.equal(rec.attributes['tenant.id'], carried(r.tenants[String(rec.attributes.step)]), r.rid);
        assert.equal(rec.severityNumber, SEVERITY_INFO);
        assert.equal(rec.severityText, 'info');
        assert.equal(rec.encoding, hashed ? 'protobuf' : 'json');
        assert.equal(rec.resource['service.name'], `log-app-${logger}`);
      }
      // Each line of stdout was shipped once, with its message as the body.
      const bodyKey = logger === 'pino' ? 'msg' : 'message';
      const fromStdout = lines.filter((l) => l.rid !== undefined).map((l) => `${String(l.rid)} ${String(l[bodyKey])}`).sort();
      const fromOtlp = shipped.map((rec: ReceivedLog) => `${String(rec.attributes.rid)} ${String(rec.body)}`).sort();
      assert.deepEqual(fromOtlp, fromStdout);
      const start = receiver.logs.filter((l) => l.attributes.step === 'start');
      assert.equal(start.length, 1);
      assert.equal(start[0].traceId, '');
      assert.equal(start[0].attributes['tenant.id'], undefined);
      assert.equal(start[0].body, 'log app starting');
      assert.deepEqual(receiver.errors, []);
    });

    test('tenantscope_logs_exported_total counts every record received, nothing is dropped, nothing but JSON on stdout', async () => {
      const samples = await metricsWhen(promPort, (s) => sumOf(s, 'tenantscope_logs_exported_total') >= total, `${total} logs exported`);
      assert.equal(sumOf(samples, 'tenantscope_logs_exported_total'), total);
      assert.equal(sumOf(samples, 'tenantscope_logs_dropped_total'), 0);
      // Log bodies and fields never become metric labels.
      const written = new Set(lines.flatMap((l) => [l.rid, l.step, l.msg, l.message].filter((v) => typeof v === 'string')));
      for (const s of samples) for (const v of Object.values(s.labels)) assert.ok(!written.has(v), `${s.name} ${JSON.stringify(s.labels)}`);
      assert.deepEqual(app.stdout().split('\n').filter((l) => l !== '' && !l.startsWith('{')), [`LISTENING ${app.port}`]);
      assert.equal(app.stderr(), '');
    });
  });
}

describe('no logs shipped', () => {
  const cases: [string, Record<string, string>][] = [
    ['OTEL_LOGS_EXPORTER=none with a Collector endpoint', { OTEL_LOGS_EXPORTER: 'none' }],
    ['OTEL_LOGS_EXPORTER unset and only a traces endpoint configured', {}],
  ];
  for (const [name, env] of cases) {
    test(`${name}: nothing reaches /v1/logs, the lines still carry trace and tenant`, async () => {
      const receiver = await startOtlpReceiver();
      const endpoint =
        env.OTEL_LOGS_EXPORTER === 'none'
          ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }
          : { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces` };
      const app = await startFixture('log-app.js', {
        env: { LOGGER: 'pino', OTEL_METRICS_EXPORTER: 'none', OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_BLRP_SCHEDULE_DELAY: '50', ...endpoint, ...env },
      });
      try {
        assert.equal(await get(app.port, '/work?rid=n1&n=3', { 'x-tenant-id': 'acme' }), 200);
        await receiver.waitFor(() => receiver.spans.some((s) => s.kind === KIND_SERVER), 10000, 'the server span');
        // Stopping flushes every provider at exit: logs would have been sent by then.
        const exit = await app.stop();
        assert.equal(exit.code, 0);
        assert.deepEqual(receiver.requests.filter((r) => r.includes('/v1/logs')), []);
        assert.equal(receiver.logs.length, 0);
        const server = receiver.spans.find((s) => s.kind === KIND_SERVER) as ReceivedSpan;
        const mine = jsonLines(app.stdout()).filter((l) => l.rid === 'n1');
        assert.equal(mine.length, 3);
        for (const l of mine) {
          assert.equal(l.trace_id, server.traceId);
          assert.equal(l.span_id, server.spanId);
          assert.equal(l.tenant_id, 'acme');
        }
      } finally {
        await app.stop();
        await receiver.close();
      }
    });
  }
});

describe('a log endpoint that refuses connections', () => {
  const BURST_REQUESTS = 20;
  const BURST_LINES = 10;
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let promPort: number;

  before(async () => {
    receiver = await startOtlpReceiver();
    promPort = await freePort();
    const dead = await freePort(); // nothing listens there
    app = await startFixture('log-app.js', {
      env: {
        LOGGER: 'pino',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `http://user:secret@127.0.0.1:${dead}/v1/logs`,
        OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '300',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_BLRP_SCHEDULE_DELAY: '20',
        OTEL_BLRP_MAX_QUEUE_SIZE: '20',
        OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '5',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
      },
    });
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
  });

  test('one line naming the endpoint (without its credentials) and the error; every record counted as dropped; the app unharmed', async () => {
    assert.equal(await get(app.port, '/work?rid=f0&n=3', { 'x-tenant-id': 'acme' }), 200);
    const deadline = Date.now() + 10000;
    while (!app.stderr().includes('log export')) {
      if (Date.now() > deadline) throw new Error(`no failure line; stderr: ${app.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A burst while the endpoint is down: the queue (20) fills and the rest is dropped, without more lines.
    const statuses = await Promise.all(
      Array.from({ length: BURST_REQUESTS }, (_, i) => get(app.port, `/work?rid=b${i}&n=${BURST_LINES}`, { 'x-tenant-id': 'globex' }))
    );
    assert.deepEqual(statuses, statuses.map(() => 200));
    const total = 1 + 3 + BURST_REQUESTS * BURST_LINES;
    const samples = await metricsWhen(promPort, (s) => sumOf(s, 'tenantscope_logs_dropped_total') >= total, `${total} logs dropped`);
    assert.equal(sumOf(samples, 'tenantscope_logs_dropped_total'), total);
    assert.ok(sumOf(samples, 'tenantscope_logs_dropped_total', { reason: 'export_failed' }) > 0);
    assert.ok(sumOf(samples, 'tenantscope_logs_dropped_total', { reason: 'queue_full' }) > 0);
    assert.equal(sumOf(samples, 'tenantscope_logs_exported_total'), 0);

    const stderr = app.stderr().split('\n').filter((l) => l !== '');
    assert.equal(stderr.length, 1, stderr.join('\n'));
    assert.match(stderr[0], /^tenantscope: log export to http:\/\/127\.0\.0\.1:\d+\/v1\/logs failed \(Error: connect ECONNREFUSED 127\.0\.0\.1:\d+\)/);
    assert.ok(!app.stderr().includes('secret') && !app.stdout().includes('secret'));
    // No per-export retry lines from the exporter in the app's own output either.
    assert.deepEqual(app.stdout().split('\n').filter((l) => l !== '' && !l.startsWith('{')), [`LISTENING ${app.port}`]);
    // Traces still reach their (healthy) Collector.
    await receiver.waitFor(() => receiver.spans.filter((s) => s.kind === KIND_SERVER).length === BURST_REQUESTS + 1, 10000, 'server spans');
  });
});
