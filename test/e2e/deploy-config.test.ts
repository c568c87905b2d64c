/**
 * The deploy configs (docker-compose.yml, otel-collector.yaml, deploy/) checked with the real tools that run
 * here, and statically where the real thing cannot run.
 *
 * Real: `promtool check config` (Debian package `prometheus`), `docker-compose config` (Debian package
 * `docker-compose`, v1; skipped with a reason when absent), PyYAML through `python3` to parse the files
 * (skipped with a reason when absent; no YAML parser is a dependency of this package).
 * Stand-ins: there is no Docker engine, no Collector binary and no Jaeger on these machines, so the stack is
 * not started. The Collector and Jaeger configs are checked for wiring (every component a pipeline names is
 * defined, extensions exist, storage names resolve), for the values this project depends on (0.0.0.0 binds,
 * processor order, no spanmetrics connector, Prometheus namespace), and across files (hosts are compose
 * services, mounted files exist, ports agree). Their keys were checked against the upstream sources cited in
 * the files' comments.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const COLLECTOR = join(ROOT, 'otel-collector.yaml');
const JAEGER = join(ROOT, 'deploy', 'jaeger.yaml');
const PROMETHEUS = join(ROOT, 'deploy', 'prometheus.yml');
const COMPOSE = join(ROOT, 'docker-compose.yml');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

const yamlReason = ((): string | undefined => {
  if (!has('python3')) return 'python3 is not installed: no YAML parser available';
  const r = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'python3 has no PyYAML module (import yaml failed)';
})();

type Yaml = Record<string, any>;  

/** Parses a YAML file with PyYAML's safe loader, through JSON. */
function loadYaml(path: string): Yaml {
  const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `parsing ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Yaml;
}

/**
 * Collector-style wiring problems: a pipeline naming a receiver/processor/exporter/connector that is not
 * defined, a service extension that is not defined, or a defined component no pipeline uses.
 */
function wiringProblems(cfg: Yaml): string[] {
  const problems: string[] = [];
  const defined = (section: string): Set<string> => new Set(Object.keys(cfg[section] ?? {}));
  const sections = { receivers: defined('receivers'), processors: defined('processors'), exporters: defined('exporters') };
  const connectors = defined('connectors');
  const used = new Set<string>();
  const pipelines = (cfg.service?.pipelines ?? {}) as Yaml;
  if (Object.keys(pipelines).length === 0) problems.push('service.pipelines is empty');
  for (const [name, p] of Object.entries(pipelines)) {
    for (const role of ['receivers', 'processors', 'exporters'] as const) {
      for (const id of (p[role] ?? []) as string[]) {
        used.add(`${role}:${id}`);
        // A connector is an exporter of one pipeline and a receiver of another.
        if (!sections[role].has(id) && !(role !== 'processors' && connectors.has(id))) problems.push(`pipeline ${name} uses undefined ${role.slice(0, -1)} ${id}`);
      }
    }
    if (((p.receivers ?? []) as string[]).length === 0) problems.push(`pipeline ${name} has no receivers`);
    if (((p.exporters ?? []) as string[]).length === 0) problems.push(`pipeline ${name} has no exporters`);
  }
  for (const role of ['receivers', 'processors', 'exporters'] as const) {
    for (const id of sections[role]) if (!used.has(`${role}:${id}`)) problems.push(`${role.slice(0, -1)} ${id} is defined but unused`);
  }
  const extensions = defined('extensions');
  for (const id of (cfg.service?.extensions ?? []) as string[]) if (!extensions.has(id)) problems.push(`service uses undefined extension ${id}`);
  return problems;
}

test('promtool accepts deploy/prometheus.yml, and rejects a broken copy (the check can fail)', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  const ok = spawnSync('promtool', ['check', 'config', PROMETHEUS], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
  const dir = mkdtempSync(join(tmpdir(), 'deploy-config-'));
  try {
    const broken = join(dir, 'prometheus.yml');
    writeFileSync(broken, readFileSync(PROMETHEUS, 'utf8').replace('scrape_interval: 15s', 'scrape_interval: fifteen'));
    const bad = spawnSync('promtool', ['check', 'config', broken], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout + bad.stderr, /FAILED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pipeline alerts fire on failing exports and a reached series budget (promtool test rules), and a broken expectation fails', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  const tests = join(ROOT, 'deploy', 'alerts.test.yml');
  const ok = spawnSync('promtool', ['test', 'rules', tests], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /SUCCESS/);
  const dir = mkdtempSync(join(tmpdir(), 'deploy-alerts-'));
  try {
    writeFileSync(join(dir, 'alerts.yml'), readFileSync(join(ROOT, 'deploy', 'alerts.yml'), 'utf8'));
    // Expect the span alert on instance b (7 failures, long ago, never increasing): promtool must disagree.
    writeFileSync(join(dir, 'alerts.test.yml'), readFileSync(tests, 'utf8').replace("instance: 'a:9464', reason: refused", "instance: 'b:9464', reason: refused"));
    const bad = spawnSync('promtool', ['test', 'rules', join(dir, 'alerts.test.yml')], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout + bad.stderr, /FAILED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker-compose validates docker-compose.yml and lists exactly the stack services (grafana sits behind a profile)', (t) => {
  if (!has('docker-compose')) return t.skip('docker-compose is not installed (Debian package docker-compose); the compose file is still checked statically below');
  const q = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '-q'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(q.status, 0, q.stdout + q.stderr);
  const services = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '--services'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(services.status, 0, services.stderr);
  assert.deepEqual(services.stdout.trim().split('\n').sort(), ['chat-service', 'grafana', 'jaeger', 'otel-collector', 'postgres', 'prometheus', 'redis']);
  // The same check fails on a copy whose collector depends on a service that does not exist.
  const broken = join(ROOT, '.tmp-compose-broken.yml');
  try {
    writeFileSync(broken, readFileSync(COMPOSE, 'utf8').replace('    depends_on:\n      - jaeger', '    depends_on:\n      - jaegr'));
    const bad = spawnSync('docker-compose', ['-f', broken, 'config', '-q'], { encoding: 'utf8', cwd: ROOT });
    assert.notEqual(bad.status, 0, 'docker-compose accepted a dependency on an undefined service');
    assert.match(bad.stderr, /jaegr/);
  } finally {
    rmSync(broken, { force: true });
  }
});

test('the wiring check reports an undefined exporter, an unused processor and a missing extension', (t) => {
  if (yamlReason !== undefined) return t.skip(yamlReason);
  const cfg = loadYaml(COLLECTOR);
  cfg.service.pipelines.traces.exporters.push('otlp_grpc/nowhere');
  cfg.processors.filter = {};
  cfg.service.extensions = ['health_check'];
  assert.deepEqual(wiringProblems(cfg), [
    'pipeline traces uses undefined exporter otlp_grpc/nowhere',
    'processor filter is defined but unused',
    'service uses undefined extension health_check',
  ]);
});

test('otel-collector.yaml: pipelines wired, OTLP bound to 0.0.0.0, memory_limiter then batch, no spanmetrics connector', (t) => {
  if (yamlReason !== undefined) return t.skip(yamlReason);
  const cfg = loadYaml(COLLECTOR);
  assert.deepEqual(wiringProblems(cfg), []);
  assert.deepEqual(cfg.receivers.otlp.protocols, { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });
  assert.deepEqual(cfg.service.pipelines, {
    traces: { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['otlp_grpc/jaeger'] },
    metrics: { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['prometheus'] },
  });
  assert.deepEqual(cfg.exporters['otlp_grpc/jaeger'], { endpoint: 'jaeger:4317', tls: { insecure: true } });
  assert.equal(cfg.exporters.prometheus.endpoint, '0.0.0.0:8889');
  assert.deepEqual(cfg.exporters.prometheus.resource_to_telemetry_conversion, { enabled: false });
  assert.equal(cfg.connectors, undefined);
  assert.doesNotMatch(JSON.stringify(cfg), /spanmetrics|span_metrics/);
});

test('deploy/jaeger.yaml: wired, storage names resolve, Monitor tab reads traces_span_metrics from Prometheus', (t) => {
  if (yamlReason !== undefined) return t.skip(yamlReason);
  const cfg = loadYaml(JAEGER);
  assert.deepEqual(wiringProblems(cfg), []);
  const storage = cfg.extensions.jaeger_storage;
  const query = cfg.extensions.jaeger_query.storage;
  assert.ok(Object.hasOwn(storage.backends, query.traces), `jaeger_query traces storage ${query.traces} is not a backend`);
  assert.ok(Object.hasOwn(storage.metric_backends, query.metrics), `jaeger_query metrics storage ${query.metrics} is not a metric backend`);
  assert.ok(Object.hasOwn(storage.backends, cfg.exporters.jaeger_storage_exporter.trace_storage));
  assert.deepEqual(storage.metric_backends[query.metrics].prometheus, {
    endpoint: 'http://prometheus:9090',
    metric_namespace: 'traces_span_metrics',
    latency_unit: 'ms',
    normalize_calls: true,
    normalize_duration: true,
  });
  assert.deepEqual(cfg.receivers.otlp.protocols, { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });
  assert.equal(cfg.connectors, undefined);
});

test('across files: every host is a compose service, ports agree, mounted files exist', (t) => {
  if (yamlReason !== undefined) return t.skip(yamlReason);
  const compose = loadYaml(COMPOSE);
  const services = new Set(Object.keys(compose.services));
  const collector = loadYaml(COLLECTOR);
  const jaeger = loadYaml(JAEGER);
  const prometheus = loadYaml(PROMETHEUS);

  // Prometheus scrapes the service's own endpoint and the Collector's exporter, nothing else.
  const targets = (prometheus.scrape_configs as Yaml[]).map((j) => [j.job_name, j.static_configs.flatMap((s: Yaml) => s.targets)]);
  assert.deepEqual(targets, [
    ['chat-service', ['chat-service:9464']],
    ['otel-collector', ['otel-collector:8889']],
  ]);
  const env = compose.services['chat-service'].environment;
  assert.equal(env.OTEL_EXPORTER_PROMETHEUS_PORT, '9464');
  assert.equal(env.OTEL_EXPORTER_PROMETHEUS_HOST, '0.0.0.0');
  assert.equal(collector.exporters.prometheus.endpoint.split(':')[1], '8889');
  // The service's metrics are scraped, never also pushed through the Collector (that would count them twice).
  assert.equal(env.OTEL_METRICS_EXPORTER, 'prometheus');
  // Traces: service → Collector's OTLP/HTTP receiver → Jaeger's OTLP/gRPC receiver.
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${collector.receivers.otlp.protocols.http.endpoint.split(':')[1]}`);
  assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
  assert.equal(collector.exporters['otlp_grpc/jaeger'].endpoint, `jaeger:${jaeger.receivers.otlp.protocols.grpc.endpoint.split(':')[1]}`);

  const hosts = [
    ...targets.flatMap(([, ts]) => (ts as string[]).map((x) => x.split(':')[0])),
    new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT).hostname,
    collector.exporters['otlp_grpc/jaeger'].endpoint.split(':')[0],
    new URL(jaeger.extensions.jaeger_storage.metric_backends.metrics_store.prometheus.endpoint).hostname,
    new URL(env.PG_URL).hostname,
    new URL(env.REDIS_URL).hostname,
  ];
  for (const h of hosts) assert.ok(services.has(h), `${h} is not a compose service`);

  // Every bind-mounted file exists, and the collector/jaeger/prometheus mounts are the files checked above.
  const mounts = new Map<string, string>();
  for (const [name, s] of Object.entries(compose.services as Record<string, Yaml>)) {
    for (const v of (s.volumes ?? []) as string[]) {
      const [host, container] = v.split(':');
      assert.ok(existsSync(join(ROOT, host)), `${name} mounts ${host}, which does not exist`);
      mounts.set(`${name}:${container}`, host);
    }
  }
  assert.equal(mounts.get('otel-collector:/etc/otelcol-contrib/config.yaml'), './otel-collector.yaml');
  assert.equal(mounts.get('jaeger:/etc/jaeger/config.yml'), './deploy/jaeger.yaml');
  assert.equal(mounts.get('prometheus:/etc/prometheus/prometheus.yml'), './deploy/prometheus.yml');
  assert.equal(mounts.get('prometheus:/etc/prometheus/alerts.yml'), './deploy/alerts.yml');
  assert.deepEqual(compose.services['otel-collector'].command, ['--config=/etc/otelcol-contrib/config.yaml']);
  assert.deepEqual(compose.services.jaeger.command, ['--config', '/etc/jaeger/config.yml']);
  assert.ok(existsSync(join(ROOT, compose.services['chat-service'].build.dockerfile)));
  assert.match(readFileSync(join(ROOT, compose.services['chat-service'].build.dockerfile), 'utf8'), /"--require", "tenantscope\/register"/);
});
