/**
 * Exemplars end to end: an express app under `--require register.js` (test/fixtures/red-app.js) exports its
 * traces over OTLP to a loopback receiver (test/helpers/otlpReceiver.ts, standing in for the Collector) and serves
 * /metrics, which a real Prometheus (Debian package `prometheus`, `--enable-feature=exemplar-storage`) scrapes; it
 * asks for OpenMetrics, so the duration histograms' buckets carry exemplars. The requests carry a W3C traceparent,
 * so the test chooses each trace id and whether the upstream sampled it (the default sampler follows the parent):
 *   A: sampled,      GET /v1/chats/1, tenant acme   → exported → the exemplar of its bucket
 *   B: not sampled,  GET /v1/chats/1, tenant acme   → not exported (same series and bucket as A: A stays)
 *   C: not sampled,  GET /v1/chats/2, tenant globex → not exported → globex's series has no exemplar
 *   D: not sampled,  GET /v1/fail (503), tenant acme → kept by the error rule → exported → an exemplar
 * Then: the exemplars Prometheus stored (`/api/v1/query_exemplars`) name exactly the exported spans (trace and
 * span id as the receiver got them), never B or C; the plain-text /metrics has none; OTLP carries them too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';
import { PROMETHEUS_BIN, prometheusAvailable, startPrometheus, type PromExemplarSeries, type RunningPrometheus } from '../helpers/prometheus';
import { freePort } from '../helpers/services';

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const TRACE = { A: hex(16), B: hex(16), C: hex(16), D: hex(16) };
const SERVER = 2;

describe('exemplars: trace ids of exported spans only, on OpenMetrics and OTLP', { timeout: 120_000 }, () => {
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let prom: RunningPrometheus;
  let metricsPort: number;
  const started = Math.floor(Date.now() / 1000) - 5;

  async function send(trace: string, sampled: boolean, tenant: string, path: string): Promise<number> {
    const r = await fetch(`http://127.0.0.1:${app.port}${path}`, {
      headers: { 'x-tenant-id': tenant, traceparent: `00-${trace}-${hex(8)}-${sampled ? '01' : '00'}` },
    });
    await r.arrayBuffer();
    return r.status;
  }

  before(async () => {
    assert.ok(prometheusAvailable(), `${PROMETHEUS_BIN} is missing: apt-get install prometheus (.ci/run does)`);
    receiver = await startOtlpReceiver();
    metricsPort = await freePort();
    app = await startFixture('red-app.js', {
      env: {
        OTEL_SERVICE_NAME: 'red-app',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'prometheus,otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '500',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
    });
    // In order: B lands after A in the same bucket of the same series.
    assert.equal(await send(TRACE.A, true, 'acme', '/v1/chats/1'), 200);
    assert.equal(await send(TRACE.B, false, 'acme', '/v1/chats/1'), 200);
    assert.equal(await send(TRACE.C, false, 'globex', '/v1/chats/2'), 200);
    assert.equal(await send(TRACE.D, false, 'acme', '/v1/fail'), 503);
    await receiver.waitFor(() => [TRACE.A, TRACE.D].every((t) => receiver.spans.some((s) => s.traceId === t && s.kind === SERVER)), 15000, 'the exported server spans');
    prom = await startPrometheus({ job: 'red-app', targets: [`127.0.0.1:${metricsPort}`], extraArgs: ['--enable-feature=exemplar-storage'] });
    await prom.waitForScrapes(2);
  });

  after(async () => {
    await prom?.stop();
    await app?.stop();
    await receiver?.close();
  });

  const serverSpan = (trace: string): ReceivedSpan => {
    const s = receiver.spans.find((x) => x.traceId === trace && x.kind === SERVER);
    assert.ok(s, `no exported server span of ${trace}`);
    return s;
  };
  const exemplarsOf = async (promql: string): Promise<PromExemplarSeries[]> => prom.queryExemplars(promql, started, Math.ceil(Date.now() / 1000) + 5);

  test('the traces the test chose are exported or not as planned (A and D, by sampling and by the error rule)', () => {
    const traces = new Set(receiver.spans.map((s) => s.traceId));
    assert.ok(traces.has(TRACE.A) && traces.has(TRACE.D));
    assert.ok(!traces.has(TRACE.B) && !traces.has(TRACE.C));
    assert.equal(serverSpan(TRACE.D).attributes['tenantscope.kept_by'], 'error');
  });

  test('http_request_duration_seconds: one exemplar per series and bucket, the exported request of that series', async () => {
    const series = await exemplarsOf('http_request_duration_seconds_bucket{job="red-app"}');
    const got = series.flatMap((s) =>
      s.exemplars.map((e) => ({ endpoint: s.seriesLabels.endpoint, tenant: s.seriesLabels.tenant_id, le: s.seriesLabels.le, trace: e.labels.trace_id, span: e.labels.span_id, value: e.value }))
    );
    const a = serverSpan(TRACE.A);
    const d = serverSpan(TRACE.D);
    // Each request fell in one bucket; its exemplar sits on that bucket's series (the value is the request's seconds).
    assert.deepEqual(
      got.map((g) => ({ endpoint: g.endpoint, tenant: g.tenant, trace: g.trace, span: g.span })).sort((x, y) => x.trace.localeCompare(y.trace)),
      [
        { endpoint: '/v1/chats/:chatId', tenant: 'acme', trace: TRACE.A, span: a.spanId },
        { endpoint: '/v1/fail', tenant: 'acme', trace: TRACE.D, span: d.spanId },
      ].sort((x, y) => x.trace.localeCompare(y.trace))
    );
    for (const g of got) {
      assert.ok(g.value > 0 && g.value <= Number(g.le), `${g.trace}: ${g.value} s in bucket le=${g.le}`);
    }
  });

  test('traces_span_metrics_duration_milliseconds: every exemplar is an exported span of that series, never B or C', async () => {
    const series = await exemplarsOf('traces_span_metrics_duration_milliseconds_bucket{job="red-app"}');
    let n = 0;
    const traces = new Set<string>();
    for (const s of series) {
      for (const e of s.exemplars) {
        n++;
        traces.add(e.labels.trace_id);
        const span = receiver.spans.find((x) => x.traceId === e.labels.trace_id && x.spanId === e.labels.span_id);
        assert.ok(span, `exemplar ${e.labels.trace_id}/${e.labels.span_id} is no exported span`);
        assert.equal(span.name, s.seriesLabels.span_name);
        assert.equal(span.attributes['tenant.id'] ?? 'unknown', s.seriesLabels.tenant_id);
        assert.ok(e.value >= 0 && e.value <= Number(s.seriesLabels.le), `${e.value} ms in le=${s.seriesLabels.le}`);
      }
    }
    assert.ok(traces.has(TRACE.A) && traces.has(TRACE.D), [...traces].join(' '));
    assert.ok(!traces.has(TRACE.B) && !traces.has(TRACE.C));
    // The server spans of A and D are there, with their own span ids.
    const server = series.filter((s) => s.seriesLabels.span_kind === 'SPAN_KIND_SERVER').flatMap((s) => s.exemplars.map((e) => e.labels.span_id));
    assert.ok(server.includes(serverSpan(TRACE.A).spanId) && server.includes(serverSpan(TRACE.D).spanId));
    assert.ok(n >= 4);
  });

  test('no stored exemplar anywhere names an unexported trace', async () => {
    const all = await exemplarsOf('{job="red-app"}');
    const traces = all.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id));
    assert.ok(traces.length > 0);
    assert.ok(!traces.includes(TRACE.B) && !traces.includes(TRACE.C));
  });

  test('/metrics: OpenMetrics (with exemplars and # EOF) only when asked, plain text without exemplars by default', async () => {
    const plain = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(plain.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await plain.text();
    assert.doesNotMatch(text, /trace_id/);
    assert.doesNotMatch(text, /# EOF/);
    const om = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const body = await om.text();
    assert.ok(body.endsWith('# EOF\n'));
    assert.match(body, /^# TYPE http_requests counter$/m);
    assert.match(body, new RegExp(`^http_request_duration_seconds_bucket\\{[^}]*endpoint="/v1/chats/:chatId",tenant_id="acme"[^}]*\\} \\d+ # \\{trace_id="${TRACE.A}",span_id="${serverSpan(TRACE.A).spanId}"\\} [0-9.e-]+ \\d+\\.\\d{3}$`, 'm'));
    assert.doesNotMatch(body, new RegExp(`${TRACE.B}|${TRACE.C}`));
  });

  test('OTLP: the same exemplars on the histogram data points the receiver got', async () => {
    await receiver.waitFor(() => (receiver.latest('http_request_duration_seconds')?.dataPoints ?? []).some((p) => (p.exemplars ?? []).length > 0), 10000, 'exemplars over OTLP');
    const points = receiver.latest('http_request_duration_seconds')!.dataPoints;
    const got = points.flatMap((p) => (p.exemplars ?? []).map((e) => `${p.attributes.endpoint} ${p.attributes.tenant_id} ${e.traceId} ${e.spanId}`)).sort();
    assert.deepEqual(got, [`/v1/chats/:chatId acme ${TRACE.A} ${serverSpan(TRACE.A).spanId}`, `/v1/fail acme ${TRACE.D} ${serverSpan(TRACE.D).spanId}`].sort());
    const spanPoints = receiver.latest('traces.span.metrics.duration')!.dataPoints;
    const spanTraces = new Set(spanPoints.flatMap((p) => (p.exemplars ?? []).map((e) => e.traceId)));
    assert.ok(spanTraces.has(TRACE.A) && !spanTraces.has(TRACE.B) && !spanTraces.has(TRACE.C));
    // The rest of the request decodes as before (the exemplar histograms ride in a second ResourceMetrics).
    assert.deepEqual(receiver.errors, []);
    assert.ok(receiver.latest('http_requests') !== undefined);
  });
});
