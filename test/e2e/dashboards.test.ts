/**
 * Every query a user of the stack would see run — each Grafana panel query, each recording rule, the queries
 * Jaeger's Monitor tab sends — against a real Prometheus (Debian package `prometheus`) that loads the stack's
 * rule files and scrapes, under `--require register.js`:
 *   - the example chat service (examples/chat-service/server.js, real PostgreSQL, Redis and RabbitMQ) driven by
 *     its traffic driver (examples/chat-service/driver.js): requests, 5xx, 404s, streamed replies, cache hits and
 *     misses, pg and redis spans, every query "slow" (TENANTSCOPE_SLOW_QUERY_MS=1), summary jobs through a queue
 *     of this run, live WebSockets, conversations started and closed, messages. Its spans, metric points (besides
 *     its /metrics) and pino log records go over OTLP to a loopback receiver (test/helpers/otlpReceiver.ts,
 *     standing in for the Collector), so the export counters move as in the stack;
 *   - the model-calling fixture (test/fixtures/llm-app.js) against the loopback provider stand-in
 *     (test/helpers/providerPeer.ts; no network here), for the same tenants: model calls, streamed ones (time to
 *     first token), tokens, cost, and monthly budgets (TENANTSCOPE_BUDGETS_FILE).
 * A query fails the test when it returns nothing (or only NaN), unless it reads a metric listed in
 * EXPECTED_EMPTY below: the Collector's own telemetry and its receivers' metrics, which cannot exist here (no
 * Collector binary on these machines). Each listed metric is also asserted to be absent. In the stack itself
 * the service's metrics reach Prometheus through the Collector's prometheus exporter; here Prometheus scrapes the
 * in-process endpoint, which serves the same names (docs/metrics.md, pinned by test/unit/naming.test.ts).
 * The budget rules' group evaluates every 5 minutes in the stack; here every second like the others (its
 * running month-to-date sum then adds a 5-minute cost each second: the values are the promtool tests' job,
 * deploy/prometheus/tests/budget.test.yml; here only that every rule evaluates and returns data).
 *
 * Also: the dashboard JSON in the repository is exactly what deploy/grafana/dashboards.ts generates, the
 * dashboards' variables and data sources resolve, and every rule evaluates without error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import { dashboardFile, dashboardJson, SPECS } from '../../deploy/grafana/dashboards';
import { DASHBOARDS_DIR, GRAFANA_DIR, loadRules, loadYaml, ROOT, RULES_DIR, COMPOSE, filesIn, type Yaml } from '../helpers/deploy';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';
import { PROMETHEUS_BIN, prometheusAvailable, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { startProviderPeer, type ProviderPeer } from '../helpers/providerPeer';
import { freePort } from '../helpers/services';

/**
 * THE list of metrics that no query can find here, keyed by metric name, valued by what produces them in the
 * stack. A query that reads one of these may come back empty; every other query must return data. The last test
 * below fails if one of them appears (then it no longer belongs here). Histograms are listed by family name
 * (their _bucket/_sum/_count series count as the family).
 */
export const EXPECTED_EMPTY: Record<string, string> = {
  // The Collector's receivers and own telemetry: the stack has them, this machine has no Collector binary.
  system_cpu_time_seconds_total: 'collector: host_metrics receiver',
  system_memory_utilization_ratio: 'collector: host_metrics receiver',
  system_filesystem_utilization_ratio: 'collector: host_metrics receiver',
  system_network_io_bytes_total: 'collector: host_metrics receiver',
  postgresql_backends: 'collector: postgresql receiver',
  postgresql_commits_total: 'collector: postgresql receiver',
  postgresql_rollbacks_total: 'collector: postgresql receiver',
  redis_clients_connected: 'collector: redis receiver',
  redis_commands_processed_total: 'collector: redis receiver',
  otelcol_receiver_accepted_spans_total: 'collector: own telemetry',
  otelcol_receiver_refused_spans_total: 'collector: own telemetry',
  otelcol_receiver_accepted_metric_points_total: 'collector: own telemetry',
  otelcol_exporter_sent_spans_total: 'collector: own telemetry',
  otelcol_exporter_send_failed_spans_total: 'collector: own telemetry',
  otelcol_exporter_sent_metric_points_total: 'collector: own telemetry',
  otelcol_exporter_queue_size: 'collector: own telemetry',
  otelcol_exporter_queue_capacity: 'collector: own telemetry',
};

const PID = process.pid;
const TENANTS = [`acme-${PID}`, `globex-${PID}`, `initech-${PID}`];
/** The value the `tenant` variable takes in the queries below (one real tenant: its panels must have data). */
const TENANT = TENANTS[0];
const VARIABLES: Record<string, string> = {
  $tenant: TENANT,
  $service: 'chat-service',
  $job: 'chat-service',
  $__rate_interval: '5m',
};

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/** Metric names a PromQL expression reads (labels, strings, durations and function names removed). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The raw metric names an expression depends on, recorded names expanded through the recording rules. */
function rawDependencies(expr: string, records: Map<string, string[]>, seen = new Set<string>()): string[] {
  const out = new Set<string>();
  for (const name of metricNames(expr)) {
    if (seen.has(name)) continue;
    seen.add(name);
    const exprs = records.get(name);
    if (exprs === undefined) out.add(name);
    else for (const e of exprs) for (const d of rawDependencies(e, records, seen)) out.add(d);
  }
  return [...out];
}

function expectedEmptyReason(deps: string[]): string | undefined {
  for (const d of deps) {
    for (const [name, why] of Object.entries(EXPECTED_EMPTY)) {
      if (d === name || ['_bucket', '_sum', '_count'].some((s) => d === name + s)) return `${name}: ${why}`;
    }
  }
  return undefined;
}

function substitute(expr: string): string {
  return expr.replace(/\$__rate_interval|\$[a-z_]+/g, (v) => {
    if (!(v in VARIABLES)) throw new Error(`unknown variable ${v} in ${expr}`);
    return VARIABLES[v];
  });
}

/** The queries Jaeger v2.20.0's Monitor tab sends (internal/storage/metricstore/prometheus/metricstore/reader.go). */
function jaegerMonitorQueries(service: string, ratePer = '10m'): string[] {
  const svc = JSON.stringify(service);
  const kind = 'span_kind =~ "SPAN_KIND_SERVER"';
  const out: string[] = [];
  for (const groupBy of ['service_name', 'service_name,span_name']) {
    for (const q of [0.5, 0.75, 0.95]) {
      out.push(`histogram_quantile(${q.toFixed(2)}, sum(rate(traces_span_metrics_duration_milliseconds_bucket{service_name =~ ${svc}, ${kind}}[${ratePer}])) by (${groupBy},le))`);
    }
    out.push(`sum(rate(traces_span_metrics_calls_total{service_name =~ ${svc}, ${kind}}[${ratePer}])) by (${groupBy})`);
    out.push(
      `sum(rate(traces_span_metrics_calls_total{service_name =~ ${svc}, status_code = "STATUS_CODE_ERROR", ${kind}}[${ratePer}])) by (${groupBy}) / sum(rate(traces_span_metrics_calls_total{service_name =~ ${svc}, ${kind}}[${ratePer}])) by (${groupBy})`
    );
  }
  return out;
}

interface Outcome {
  where: string;
  expr: string;
  result: 'data' | 'expected-empty' | 'EMPTY';
  note?: string;
}

test('metricNames finds the metrics of an expression and nothing else', () => {
  assert.deepEqual(
    metricNames('sum by (tenant_id, le) (rate(http_request_duration_seconds_bucket{service=~"$service", le!="x_y"}[5m])) / on (tenant_id) group_left foo:bar:rate5m offset 1d'),
    ['http_request_duration_seconds_bucket', 'foo:bar:rate5m']
  );
  assert.deepEqual(metricNames('histogram_quantile(0.95, sum(rate(a_bucket[1m])) by (service_name,le)) > 3 and up == 0'), ['a_bucket', 'up']);
});

test('an empty query is excused only through a listed metric, recorded names followed to their sources', () => {
  const records = new Map<string, string[]>();
  for (const r of loadRules()) if (r.record) records.set(r.record, [...(records.get(r.record) ?? []), r.expr]);
  assert.equal(expectedEmptyReason(rawDependencies('sum(rate(http_requests_total[5m]))', records)), undefined);
  assert.equal(expectedEmptyReason(rawDependencies('tenant:http_error_ratio:rate5m', records)), undefined);
  assert.equal(expectedEmptyReason(rawDependencies('cache_hit_rate_percent', records)), undefined);
  assert.equal(expectedEmptyReason(rawDependencies('histogram_quantile(0.9, rate(model_api_time_to_first_token_seconds_bucket[5m]))', records)), undefined);
  assert.match(expectedEmptyReason(rawDependencies('system_cpu_usage_percent', records)) ?? '', /^system_cpu_time_seconds_total: collector/);
  assert.match(expectedEmptyReason(rawDependencies('database_queries_per_second', records)) ?? '', /^postgresql_commits_total: collector/);
});

test('the dashboard JSON in the repository is what deploy/grafana/dashboards.ts generates', () => {
  assert.deepEqual(
    filesIn(DASHBOARDS_DIR, '.json').map((f) => f.slice(DASHBOARDS_DIR.length + 1)),
    SPECS.map(dashboardFile).sort()
  );
  for (const spec of SPECS) {
    assert.equal(readFileSync(join(DASHBOARDS_DIR, dashboardFile(spec)), 'utf8'), dashboardJson(spec), `${dashboardFile(spec)} is stale: run npm run dashboards`);
  }
});

test('dashboards: unique uids, variables defined where used, data sources provisioned, provisioning path mounted', () => {
  const datasources = loadYaml(join(GRAFANA_DIR, 'provisioning', 'datasources', 'datasources.yaml')).datasources as Yaml[];
  const uids = new Set(datasources.map((d) => d.uid));
  assert.deepEqual([...uids].sort(), ['jaeger', 'prometheus']);
  assert.equal(datasources.find((d) => d.uid === 'prometheus')!.jsonData.exemplarTraceIdDestinations[0].datasourceUid, 'jaeger');
  assert.equal(datasources.find((d) => d.uid === 'jaeger')!.jsonData.tracesToMetrics.datasourceUid, 'prometheus');
  const seenUids = new Set<string>();
  for (const file of filesIn(DASHBOARDS_DIR, '.json')) {
    const d = JSON.parse(readFileSync(file, 'utf8')) as Yaml;
    assert.ok(!seenUids.has(d.uid), `duplicate uid ${d.uid}`);
    seenUids.add(d.uid);
    const vars = new Set((d.templating.list as Yaml[]).map((v) => v.name));
    for (const v of d.templating.list as Yaml[]) if (v.datasource) assert.ok(uids.has(v.datasource.uid), `${file}: variable ${v.name}`);
    for (const p of d.panels as Yaml[]) {
      assert.ok(uids.has(p.datasource.uid), `${file}: panel ${p.title}`);
      for (const t of p.targets as Yaml[]) {
        for (const m of (t.expr as string).matchAll(/\$([a-z_]+)/g)) if (m[1] !== '__rate_interval') assert.ok(vars.has(m[1]), `${file}: ${p.title} uses $${m[1]}, not defined`);
      }
      for (const l of (p.fieldConfig?.defaults?.links ?? []) as Yaml[]) for (const m of (l.url as string).matchAll(/\$\{([a-z_]+)\}/g)) assert.ok(vars.has(m[1]) || m[1].startsWith('__'), `${file}: link uses ${m[1]}`);
    }
  }
  // Every latency panel of the RED dashboard links to Jaeger.
  const red = JSON.parse(readFileSync(join(DASHBOARDS_DIR, 'tenantscope-red.json'), 'utf8')) as Yaml;
  const latency = (red.panels as Yaml[]).filter((p) => /Latency p50|duration buckets/.test(p.title));
  assert.equal(latency.length, 2);
  for (const p of latency) assert.match(p.fieldConfig.defaults.links[0].url, /^\$\{jaeger_url\}\/search\?service=\$\{__field\.labels\.service\}/);
  // The provider reads the folder compose mounts.
  const provider = loadYaml(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'tenantscope.yaml')).providers[0];
  const mounts = loadYaml(COMPOSE).services.grafana.volumes as string[];
  assert.ok(mounts.includes(`./deploy/grafana/dashboards:${provider.options.path}:ro`), `${provider.options.path} is not mounted`);
});

describe('every panel query, recording rule and Jaeger Monitor query returns data from a real Prometheus', { timeout: 240_000 }, () => {
  let prom: RunningPrometheus;
  let chat: RunningFixture;
  let llm: RunningFixture;
  let peer: ProviderPeer;
  let receiver: OtlpReceiver;
  let dbName: string;
  const tmp = mkdtempSync(join(tmpdir(), 'tenantscope-dash-'));
  const outcomes: Outcome[] = [];
  const rules = loadRules();
  const records = new Map<string, string[]>();
  for (const r of rules) if (r.record) records.set(r.record, [...(records.get(r.record) ?? []), r.expr]);

  before(async () => {
    assert.ok(prometheusAvailable(), `${PROMETHEUS_BIN} is missing: apt-get install prometheus (.ci/run does)`);
    // The example service's tables live in a database of this run, so concurrent runs and other tests never mix.
    const base = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    dbName = `tenantscope_dash_${PID}`;
    const admin = new Client({ connectionString: base });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const pgUrl = new URL(base);
    pgUrl.pathname = `/${dbName}`;

    const chatMetrics = await freePort();
    const llmMetrics = await freePort();
    receiver = await startOtlpReceiver();
    const common = { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1' };
    chat = await startFixture(join(ROOT, 'examples', 'chat-service', 'server.js'), {
      env: {
        ...common,
        OTEL_SERVICE_NAME: 'chat-service',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(chatMetrics),
        // Spans, metric points and log records also go over OTLP, as in the stack (to the loopback receiver).
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'prometheus,otlp',
        OTEL_LOGS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        PG_URL: pgUrl.toString(),
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        AMQP_URL: process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
        SUMMARY_QUEUE: `chat.summaries.dash-${PID}`,
        PORT: '0',
        // Every query is "slow" here: database_slow_queries_total moves.
        TENANTSCOPE_SLOW_QUERY_MS: '1',
      },
    });
    peer = await startProviderPeer();
    const budgets = join(tmp, 'budgets.json');
    writeFileSync(budgets, JSON.stringify({ default: 1, tenants: { [TENANT]: 50 } }));
    llm = await startFixture('llm-app.js', {
      env: {
        ...common,
        OTEL_SERVICE_NAME: 'llm-app',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(llmMetrics),
        TENANTSCOPE_OPENAI_USAGE_HOSTS: '127.0.0.1',
        TENANTSCOPE_BUDGETS_FILE: budgets,
        PEER_URL: peer.url,
      },
    });
    // The rule files as the stack loads them, but every group at the test's 1 s evaluation interval (see above).
    const ruleFiles = filesIn(RULES_DIR, '.rules.yml').map((f) => {
      const copy = join(tmp, basename(f));
      writeFileSync(copy, readFileSync(f, 'utf8').replace(/^ {4}interval: \S+\n/gm, ''));
      return copy;
    });
    prom = await startPrometheus({
      job: 'chat-service',
      targets: [`127.0.0.1:${chatMetrics}`],
      extraJobs: [{ job: 'llm-app', targets: [`127.0.0.1:${llmMetrics}`] }],
      ruleFiles,
      extraArgs: ['--enable-feature=exemplar-storage'],
    });
    await prom.waitForScrapes(1).catch((err: Error) => {
      throw new Error(`${err.message}\nchat-service stderr: ${chat.stderr()}\nllm-app stderr: ${llm.stderr()}`);
    });

    // Two rounds of traffic with scrapes in between, so every counter is seen rising.
    for (let round = 0; round < 2; round++) {
      const driver = spawn(process.execPath, [join(ROOT, 'examples', 'chat-service', 'driver.js')], {
        env: {
          PATH: process.env.PATH,
          TARGET_URL: `http://127.0.0.1:${chat.port}`,
          DRIVER_TENANTS: TENANTS.join(','),
          DRIVER_SESSIONS: '9',
          DRIVER_CONCURRENCY: '3',
          DRIVER_PAUSE_MS: '0',
          DRIVER_SUMMARY_EVERY: '2',
          DRIVER_ERROR_BURST: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      driver.stdout!.on('data', (d: Buffer) => (out += d));
      driver.stderr!.on('data', (d: Buffer) => (out += d));
      const code = await new Promise<number | null>((r) => driver.once('exit', r));
      assert.equal(code, 0, out);
      assert.match(out, /driver: done, \d+ requests .*201:\d+ .*503:\d+/);
      for (const tenant of TENANTS) {
        for (const [sdk, stream] of [['openai7', 0], ['openai7', 1], ['anthropic', 0]] as const) {
          const r = await fetch(`http://127.0.0.1:${llm.port}/ask?sdk=${sdk}&stream=${stream}`, { headers: { 'x-tenant-id': tenant } });
          assert.equal(r.status, 200, await r.text());
        }
      }
      await prom.waitForNewScrapes(2);
    }
    // Rules run every second: let two evaluations see the last scrapes.
    await new Promise((r) => setTimeout(r, 2500));
  });

  after(async () => {
    await prom?.stop();
    await chat?.stop();
    await llm?.stop();
    await peer?.close();
    await receiver?.close();
    rmSync(tmp, { recursive: true, force: true });
    if (dbName !== undefined) {
      const admin = new Client({ connectionString: process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
    if (outcomes.length > 0) {
      const empty = outcomes.filter((o) => o.result === 'expected-empty');
      console.log(`# ${outcomes.length} queries: ${outcomes.filter((o) => o.result === 'data').length} with data, ${empty.length} empty as listed in EXPECTED_EMPTY`);
      for (const o of empty) console.log(`#   empty: ${o.where} (${o.note})`);
    }
  });

  async function check(where: string, rawExpr: string): Promise<void> {
    const expr = substitute(rawExpr);
    const samples = await prom.query(expr);
    const finite = samples.filter((s) => Number.isFinite(s.value));
    if (finite.length > 0) {
      outcomes.push({ where, expr, result: 'data' });
      return;
    }
    const reason = expectedEmptyReason(rawDependencies(rawExpr, records));
    outcomes.push({ where, expr, result: reason === undefined ? 'EMPTY' : 'expected-empty', note: reason });
  }

  function failures(prefix: string): string[] {
    return outcomes.filter((o) => o.where.startsWith(prefix) && o.result === 'EMPTY').map((o) => `${o.where}: ${o.expr}`);
  }

  test('the tenant, service and job variables have values', async () => {
    assert.ok((await prom.queryBy('count by (tenant_id) (http_requests_total)', 'tenant_id'))[TENANT] > 0);
    assert.ok((await prom.queryBy('count by (service) (http_requests_total)', 'service'))['chat-service'] > 0);
    assert.ok((await prom.queryBy('count by (job) (target_info)', 'job'))['chat-service'] > 0);
  });

  test('every rule loads and evaluates without error', async () => {
    const states = await prom.rules();
    assert.equal(states.length, rules.length);
    assert.deepEqual(states.filter((s) => s.health !== 'ok'), []);
  });

  test('every dashboard panel query returns data (or reads a metric listed in EXPECTED_EMPTY)', async () => {
    let n = 0;
    for (const file of filesIn(DASHBOARDS_DIR, '.json')) {
      const d = JSON.parse(readFileSync(file, 'utf8')) as Yaml;
      for (const p of d.panels as Yaml[]) {
        for (const t of p.targets as Yaml[]) {
          await check(`panel ${d.uid} / ${p.title}`, t.expr);
          n++;
        }
      }
    }
    assert.equal(n, 79);
    assert.deepEqual(failures('panel'), []);
  });

  test('every panel query that asks for exemplars gets some, naming traces the Collector (here: the receiver) got', async () => {
    const exported = new Set(receiver.spans.map((s) => s.traceId));
    let n = 0;
    for (const file of filesIn(DASHBOARDS_DIR, '.json')) {
      const d = JSON.parse(readFileSync(file, 'utf8')) as Yaml;
      for (const p of d.panels as Yaml[]) {
        for (const t of (p.targets as Yaml[]).filter((x) => x.exemplar === true)) {
          const series = await prom.queryExemplars(substitute(t.expr), Math.floor(Date.now() / 1000) - 600, Math.ceil(Date.now() / 1000));
          const traces = series.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id));
          assert.ok(traces.length > 0, `no exemplars for ${p.title}`);
          for (const tr of traces) assert.ok(exported.has(tr), `${p.title}: exemplar trace ${tr} was never exported`);
          n++;
        }
      }
    }
    assert.equal(n, 1);
  });

  test('every recording rule returns data, as its expression and as the recorded series', async () => {
    for (const r of rules.filter((x) => x.record)) {
      await check(`rule ${r.record} (expr)`, r.expr);
      const sel = r.labels ? `${r.record}{${Object.entries(r.labels).map(([k, v]) => `${k}="${v}"`).join(',')}}` : r.record!;
      const samples = (await prom.query(sel)).filter((s) => Number.isFinite(s.value));
      const reason = expectedEmptyReason(rawDependencies(r.expr, records));
      outcomes.push({ where: `rule ${r.record} (recorded)`, expr: sel, result: samples.length > 0 ? 'data' : reason === undefined ? 'EMPTY' : 'expected-empty', note: reason });
    }
    assert.deepEqual(failures('rule'), []);
  });

  test("Jaeger's Monitor tab queries return data for the service (calls, error ratio, latency per operation)", async () => {
    const end = Math.floor(Date.now() / 1000);
    for (const q of jaegerMonitorQueries('chat-service')) {
      // Jaeger sends range queries; each must yield at least one finite point.
      const series = await prom.queryRange(q, end - 60, end, 5);
      const finite = series.filter((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
      assert.ok(finite.length > 0, `no data for ${q}`);
      outcomes.push({ where: 'jaeger', expr: q, result: 'data' });
    }
    // Per operation: the chat service's routes are there.
    const ops = await prom.queryBy(jaegerMonitorQueries('chat-service')[3 + 5], 'span_name');
    for (const op of ['POST /v1/conversations', 'GET /v1/conversations/:id', 'POST /v1/conversations/:id/messages', 'POST /v1/conversations/:id/summarize']) {
      assert.ok(ops[op] > 0, `no calls for ${op}: ${JSON.stringify(ops)}`);
    }
  });

  test('the metrics listed in EXPECTED_EMPTY are indeed absent (remove an entry when its issue lands)', async () => {
    const present: string[] = [];
    for (const name of Object.keys(EXPECTED_EMPTY)) {
      const samples = await prom.query(`count({__name__=~"${name}(_bucket|_sum|_count)?"})`);
      if (samples.length > 0) present.push(`${name} (${EXPECTED_EMPTY[name]})`);
    }
    assert.deepEqual(present, []);
    // And each listed metric is read by some dashboard or rule (no stale entries).
    const used = new Set<string>();
    for (const file of filesIn(DASHBOARDS_DIR, '.json')) {
      for (const p of JSON.parse(readFileSync(file, 'utf8')).panels as Yaml[]) for (const t of p.targets as Yaml[]) for (const n of rawDependencies(t.expr, records)) used.add(n);
    }
    for (const r of rules) for (const n of rawDependencies(r.expr, records)) used.add(n);
    const unused = Object.keys(EXPECTED_EMPTY).filter((name) => ![...used].some((u) => u === name || ['_bucket', '_sum', '_count'].some((s) => u === name + s)));
    assert.deepEqual(unused, []);
  });
});
