/**
 * Exporters built on first use (src/core/export/LazyExporter.ts), out of process under the preload, every signal on
 * (OTLP traces, metrics and logs to the loopback receiver of test/helpers/otlpReceiver.ts): which packages are in
 * `require.cache` before any export, after the first, and at exit; and that what the first export sends arrives.
 * The failing-collector behaviour with these exporters (counters, the two log lines, bounded exit) is pinned by
 * test/e2e/exportFaults.test.ts.
 * The preload here is tsc's output before bundling (UNBUNDLED_REGISTER): inside the bundle build/tenantscope.js a
 * module is evaluated at its first `require` just the same, but it never shows in `require.cache`
 * (test/e2e/bundle.test.ts checks what the bundled preload loads).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UNBUNDLED_REGISTER, startFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';

const TRACE_EXPORTER = ['@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/otlp-exporter-base', '@opentelemetry/otlp-transformer'];
const METRIC_EXPORTER = [
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/exporter-metrics-otlp-proto',
  '@opentelemetry/otlp-exporter-base',
  '@opentelemetry/otlp-transformer',
];

/** Runs test/fixtures/loaded-exporters.js to its end; returns its START / AFTER_EXPORT / AFTER_LOG / EXIT lists. */
async function run(receiver: OtlpReceiver, env: Record<string, string>, out?: string[]): Promise<Record<string, string[]>> {
  const app = await startFixture('loaded-exporters.js', {
    waitForListening: false,
    register: UNBUNDLED_REGISTER,
    env: {
      // The API of the same (unbundled) copy as the preload.
      API_MODULE: UNBUNDLED_REGISTER.replace(/register\.js$/, 'index.js'),
      OTEL_SERVICE_NAME: 'loaded-exporters',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      ...env,
    },
  });
  const exit = await app.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, app.stderr());
  assert.equal(app.stderr(), '');
  const lists: Record<string, string[]> = {};
  out?.push(...app.stdout().split('\n'));
  for (const line of app.stdout().split('\n')) {
    const m = /^(START|AFTER_EXPORT|AFTER_LOG|EXIT) (.*)$/.exec(line);
    if (m) lists[m[1]] = JSON.parse(m[2]) as string[];
  }
  return lists;
}

function union(...lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

describe('OTLP exporters are loaded at their first export', () => {
  it('an app that exports nothing but its final metrics loads no exporter at start, and only the metric exporter at exit', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const lists = await run(receiver, {});
      assert.deepEqual(lists.START, []);
      // The final metric export at exit has points (the price gauge, runtime and process metrics); no span, no log record.
      assert.deepEqual(lists.EXIT, METRIC_EXPORTER);
      assert.ok(receiver.metrics.length > 0);
      assert.ok(receiver.latest('tenantscope.prices.info') !== undefined);
      assert.equal(receiver.spans.length, 0);
      assert.equal(receiver.logs.length, 0);
    } finally {
      await receiver.close();
    }
  });

  it('the first span export loads the trace exporter and delivers the spans', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const lists = await run(receiver, { SPANS: '5', OTEL_BSP_SCHEDULE_DELAY: '100', WAIT_MS: '1500', OTEL_METRICS_EXPORTER: 'none' });
      assert.deepEqual(lists.START, []);
      assert.deepEqual(lists.AFTER_EXPORT, TRACE_EXPORTER);
      assert.deepEqual(lists.EXIT, TRACE_EXPORTER);
      assert.deepEqual(receiver.spans.map((s) => s.name).sort(), ['work 0', 'work 1', 'work 2', 'work 3', 'work 4']);
      assert.equal(receiver.metrics.length, 0);
    } finally {
      await receiver.close();
    }
  });

  it('with spans and metrics, both exporters load, with one copy of each OpenTelemetry package (no nested second tree)', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const lists = await run(receiver, { SPANS: '3', OTEL_BSP_SCHEDULE_DELAY: '60000' });
      assert.deepEqual(lists.START, []);
      assert.deepEqual(lists.EXIT, union(TRACE_EXPORTER, METRIC_EXPORTER));
      assert.equal(receiver.spans.length, 3);
      assert.ok(receiver.latest('tenantscope.prices.info') !== undefined);
    } finally {
      await receiver.close();
    }
  });

  it('the logger provider (sdk-logs) is built at the first pino record, which still carries the trace and tenant and ships', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const out: string[] = [];
      const lists = await run(receiver, { PINO: '1', OTEL_METRICS_EXPORTER: 'none' }, out);
      assert.deepEqual(lists.START, []);
      assert.deepEqual(lists.AFTER_LOG, ['@opentelemetry/sdk-logs']);
      assert.deepEqual(lists.EXIT, union(['@opentelemetry/sdk-logs', '@opentelemetry/exporter-logs-otlp-proto'], TRACE_EXPORTER));
      const span = receiver.spans.find((s) => s.name === 'logged');
      assert.ok(span !== undefined);
      const lines = out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 1);
      assert.equal(lines[0].msg, 'first line');
      assert.equal(lines[0].trace_id, span.traceId);
      assert.equal(lines[0].span_id, span.spanId);
      assert.equal(lines[0].tenant_id, 'acme');
      assert.equal(receiver.logs.length, 1);
      const [rec] = receiver.logs;
      assert.equal(rec.body, 'first line');
      assert.equal(rec.traceId, span.traceId);
      assert.equal(rec.spanId, span.spanId);
      assert.equal(rec.attributes['tenant.id'], 'acme');
      assert.equal(rec.attributes.step, 'first');
    } finally {
      await receiver.close();
    }
  });
});
