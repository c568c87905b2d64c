/**
 * The deploy configs (docker-compose.yml, otel-collector.yaml, deploy/) checked with the real tools that run
 * here, and statically where the real thing cannot run.
 *
 * Real: `promtool check config` (Debian package `prometheus`), `docker-compose config` (Debian package
 * `docker-compose`, v1; .ci/run installs it). YAML is parsed with the `yaml` package.
 * Stand-ins: there is no Docker engine, no Collector binary, no Jaeger and no Grafana on these machines, so the
 * stack is not started. The Collector and Jaeger configs are checked for wiring (every component a pipeline names
 * is defined and every defined one is used, connectors both ways, extensions exist, storage names resolve), for
 * the values this project depends on (0.0.0.0 binds, processor order, where the span_metrics connector sits, the
 * exporter's naming setting as docs/metrics.md states it), and across files (hosts are compose services,
 * mounted files exist, ports agree, one metrics path). Their keys were checked against the upstream sources
 * cited in the files' comments (Collector contrib 0.159.0, Jaeger 2.20.0).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { COLLECTOR, COMPOSE, has, JAEGER, loadYaml, PROMETHEUS_CONFIG, ROOT, wiringProblems, type Yaml } from '../helpers/deploy';
import { PROMTOOL_BIN } from '../helpers/prometheus';

const SERVICES = ['alertmanager', 'chat-driver', 'chat-service', 'elasticsearch', 'grafana', 'jaeger', 'kibana', 'mongodb', 'otel-collector', 'postgres', 'prometheus', 'rabbitmq', 'redis'];

/** Every `endpoint` value under a receiver's protocols (or the receiver itself for scrapers). */
function listenEndpoints(receiver: Yaml): string[] {
  return Object.values((receiver.protocols ?? {}) as Yaml).map((p: Yaml) => p.endpoint as string);
}

function port(endpoint: string): string {
  return endpoint.slice(endpoint.lastIndexOf(':') + 1);
}

test('promtool accepts deploy/prometheus/prometheus.yml with its rule files, and rejects a broken copy (the check can fail)', () => {
  const ok = spawnSync(PROMTOOL_BIN, ['check', 'config', PROMETHEUS_CONFIG], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
  // The rule_files glob finds every rule file (promtool checks each one it loads), the budget rules included.
  assert.match(ok.stdout, /budget\.rules\.yml/);
  assert.match(ok.stdout, /tenantscope-alerts\.rules\.yml/);
  assert.match(ok.stdout, /tenantscope-recording\.rules\.yml/);
  const dir = mkdtempSync(join(tmpdir(), 'deploy-config-'));
  try {
    const broken = join(dir, 'prometheus.yml');
    writeFileSync(broken, readFileSync(PROMETHEUS_CONFIG, 'utf8').replace('scrape_interval: 15s', 'scrape_interval: fifteen'));
    const bad = spawnSync(PROMTOOL_BIN, ['check', 'config', broken], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout + bad.stderr, /FAILED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker-compose validates docker-compose.yml, lists the stack, and rejects a dependency on an undefined service', (t) => {
  if (!has('docker-compose')) return t.skip('docker-compose is not installed (Debian package docker-compose; .ci/run installs it); the compose file is still checked statically below');
  const q = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '-q'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(q.status, 0, q.stdout + q.stderr);
  const services = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '--services'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(services.status, 0, services.stderr);
  assert.deepEqual(services.stdout.trim().split('\n').sort(), SERVICES);
  const broken = join(ROOT, `.tmp-compose-broken-${process.pid}.yml`);
  try {
    writeFileSync(broken, readFileSync(COMPOSE, 'utf8').replace('      jaeger:\n        condition: service_healthy', '      jaegr:\n        condition: service_healthy'));
    const bad = spawnSync('docker-compose', ['-f', broken, 'config', '-q'], { encoding: 'utf8', cwd: ROOT });
    assert.notEqual(bad.status, 0, 'docker-compose accepted a dependency on an undefined service');
    assert.match(bad.stderr, /jaegr/);
  } finally {
    rmSync(broken, { force: true });
  }
});

test('every file the compose file mounts exists (as docker-compose resolves the paths, defaults included)', (t) => {
  if (!has('docker-compose')) return t.skip('docker-compose is not installed (Debian package docker-compose)');
  const env = { ...process.env };
  delete env.ALERTMANAGER_SECRETS_DIR; // the default, as a fresh clone has it
  const r = spawnSync('docker-compose', ['-f', COMPOSE, 'config'], { encoding: 'utf8', cwd: ROOT, env });
  assert.equal(r.status, 0, r.stderr);
  const resolved = parse(r.stdout) as Yaml;
  const mounts: string[] = [];
  for (const [name, s] of Object.entries(resolved.services as Record<string, Yaml>)) {
    for (const v of (s.volumes ?? []) as (string | Yaml)[]) {
      const source = typeof v === 'string' ? v.split(':')[0] : (v.source as string);
      assert.ok(isAbsolute(source), `${name}: ${source} is not resolved to an absolute path`);
      assert.ok(existsSync(source), `${name} mounts ${source}, which does not exist`);
      mounts.push(`${name}:${source === '/' ? '/' : source.slice(ROOT.length + 1)}`);
    }
  }
  assert.deepEqual(mounts.sort(), [
    'alertmanager:deploy/alertmanager/alertmanager.yml',
    'alertmanager:deploy/alertmanager/secrets.example',
    'grafana:deploy/grafana/dashboards',
    'grafana:deploy/grafana/provisioning',
    'jaeger:deploy/jaeger.yaml',
    'otel-collector:/',
    'otel-collector:otel-collector.yaml',
    'prometheus:deploy/prometheus',
  ]);
});

test('compose: every image is pinned to a version, services come up in order behind health checks', () => {
  const compose = loadYaml(COMPOSE);
  const services = compose.services as Record<string, Yaml>;
  assert.deepEqual(Object.keys(services).sort(), SERVICES);
  const images: Record<string, string> = {};
  for (const [name, s] of Object.entries(services)) {
    if (s.build !== undefined) {
      assert.equal(s.image, undefined, `${name} both builds and pulls`);
      continue;
    }
    assert.match(s.image, /^[a-z0-9./-]+:v?[0-9][\w.-]*$/, `${name}: image ${s.image} is not pinned to a version tag`);
    images[name] = s.image;
  }
  assert.deepEqual(images, {
    alertmanager: 'prom/alertmanager:v0.34.0',
    elasticsearch: 'docker.elastic.co/elasticsearch/elasticsearch:9.1.5',
    grafana: 'grafana/grafana:13.1.0',
    jaeger: 'jaegertracing/jaeger:2.20.0',
    kibana: 'docker.elastic.co/kibana/kibana:9.1.5',
    mongodb: 'mongo:8.2.7',
    'otel-collector': 'otel/opentelemetry-collector-contrib:0.159.0',
    postgres: 'postgres:18.4',
    prometheus: 'prom/prometheus:v3.14.0',
    rabbitmq: 'rabbitmq:4.3.2-management',
    redis: 'redis:8.10.0-alpine',
  });
  // The built image's base is pinned too, and runs the service under the preload.
  const dockerfile = readFileSync(join(ROOT, services['chat-service'].build.dockerfile), 'utf8');
  assert.match(dockerfile, /^FROM node:24\.\d+\.\d+-bookworm-slim$/m);
  assert.match(dockerfile, /"--require", "tenantscope\/register"/);
  assert.deepEqual(services['chat-driver'].command, ['node', '--require', 'tenantscope/register', 'examples/chat-service/driver.js']);

  // Health checks everywhere but where the image cannot run one (reasons in docker-compose.yml's header).
  const noHealthcheck = Object.keys(services).filter((n) => services[n].healthcheck === undefined).sort();
  assert.deepEqual(noHealthcheck, ['chat-driver', 'otel-collector']);
  for (const [name, s] of Object.entries(services)) {
    for (const [dep, cond] of Object.entries((s.depends_on ?? {}) as Record<string, Yaml>)) {
      assert.ok(dep in services, `${name} depends on ${dep}, not a service`);
      const want = services[dep].healthcheck === undefined ? 'service_started' : 'service_healthy';
      assert.deepEqual(cond, { condition: want }, `${name} -> ${dep}`);
    }
  }
  // The order the stack needs: alertmanager < prometheus < jaeger < collector < chat-service < driver.
  const order = ['alertmanager', 'prometheus', 'jaeger', 'otel-collector', 'chat-service', 'chat-driver'];
  for (let i = 1; i < order.length; i++) assert.ok(order[i - 1] in (services[order[i]].depends_on ?? {}), `${order[i]} does not wait for ${order[i - 1]}`);
  assert.ok(services.prometheus.command.includes('--enable-feature=exemplar-storage'));
});

test('wiringProblems reports an undefined exporter, an unused processor, a half-wired connector and a missing extension', () => {
  const cfg = loadYaml(COLLECTOR);
  cfg.service.pipelines.traces.exporters.push('otlp_grpc/nowhere');
  cfg.processors.filter = {};
  cfg.service.pipelines.metrics.receivers = cfg.service.pipelines.metrics.receivers.filter((r: string) => r !== 'span_metrics');
  cfg.service.extensions = ['health_check', 'pprof'];
  assert.deepEqual(wiringProblems(cfg), [
    'pipeline traces uses undefined exporter otlp_grpc/nowhere',
    'processor filter is defined but unused',
    "connector span_metrics is no pipeline's receiver",
    'service uses undefined extension pprof',
  ]);
});

test('otel-collector.yaml: wired, bound to 0.0.0.0, memory_limiter first and batch last, the connector off the tenantscope path', () => {
  const cfg = loadYaml(COLLECTOR);
  assert.deepEqual(wiringProblems(cfg), []);
  for (const id of ['otlp', 'otlp/other', 'jaeger']) {
    const eps = listenEndpoints(cfg.receivers[id]);
    assert.ok(eps.length > 0 && eps.every((e) => e.startsWith('0.0.0.0:')), `${id}: ${eps}`);
  }
  assert.deepEqual(cfg.receivers.otlp.protocols, { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });
  assert.deepEqual(Object.keys(cfg.receivers.jaeger.protocols).sort(), ['grpc', 'thrift_binary', 'thrift_compact', 'thrift_http']);
  const pipelines = cfg.service.pipelines as Record<string, Yaml>;
  for (const [name, p] of Object.entries(pipelines)) {
    assert.equal(p.processors[0], 'memory_limiter', `${name}: memory_limiter is not first`);
    assert.equal(p.processors.at(-1), 'batch', `${name}: batch is not last`);
  }
  // The connector sees only traces that did not come through the tenantscope receiver (otherwise tenantscope's
  // in-process span metrics and the connector's would both count the same calls).
  const withConnector = Object.entries(pipelines).filter(([, p]) => (p.exporters as string[]).includes('span_metrics'));
  assert.deepEqual(withConnector.map(([n]) => n), ['traces/other']);
  assert.ok(!withConnector[0][1].receivers.includes('otlp'));
  assert.deepEqual(pipelines.traces.receivers, ['otlp']);
  assert.deepEqual(pipelines.traces.exporters, ['otlp_grpc/jaeger']);
  // Jaeger-compatible names with the tenant as a dimension and a bound.
  const sm = cfg.connectors.span_metrics;
  assert.equal(sm.namespace, 'traces.span.metrics');
  assert.equal(sm.histogram.unit, 'ms');
  assert.deepEqual(sm.dimensions, [{ name: 'tenant.id', default: 'unknown' }]);
  assert.ok(Number.isInteger(sm.aggregation_cardinality_limit) && sm.aggregation_cardinality_limit > 0);
  // Machine and database-server receivers feed the prometheus exporter.
  assert.deepEqual(pipelines['metrics/infrastructure'].receivers, ['host_metrics', 'postgresql', 'redis']);
  assert.equal(cfg.receivers.host_metrics.scrapers.memory.metrics['system.memory.utilization'].enabled, true);
  assert.equal(cfg.receivers.host_metrics.scrapers.filesystem.metrics['system.filesystem.utilization'].enabled, true);
  assert.equal(cfg.receivers.postgresql.password, '${env:POSTGRESQL_PASSWORD}');
  assert.ok(pipelines.metrics.receivers.includes('span_metrics'));
  // Its own telemetry on a known port, health on another.
  assert.deepEqual(cfg.service.telemetry.metrics.readers, [{ pull: { exporter: { prometheus: { host: '0.0.0.0', port: 8888 } } } }]);
  assert.deepEqual(cfg.extensions.health_check, { endpoint: '0.0.0.0:13133' });
  // No deprecated key or component name of the pinned release.
  const text = JSON.stringify(cfg);
  for (const old of ['resource_to_telemetry_conversion', 'dimensions_cache_size', '"spanmetrics"', '"hostmetrics"', '"resourcedetection"', '"otlp/jaeger"', 'add_metric_suffixes']) {
    assert.ok(!text.includes(old), `otel-collector.yaml still uses ${old}`);
  }
  assert.ok(!Object.keys(cfg.exporters).includes('otlp'), 'the exporter type otlp is deprecated: otlp_grpc');
});

test('the Collector exporter naming settings are the ones docs/metrics.md describes', () => {
  const cfg = loadYaml(COLLECTOR);
  const prom = cfg.exporters.prometheus;
  const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  assert.equal(prom.endpoint, '0.0.0.0:8889');
  assert.equal(prom.translation_strategy, 'UnderscoreEscapingWithSuffixes');
  // Exemplars reach Prometheus only in OpenMetrics (docs/metrics.md says so).
  assert.equal(prom.enable_open_metrics, true);
  assert.match(doc, /`enable_open_metrics: true`/);
  assert.ok(doc.includes(`\`${prom.translation_strategy}\``), 'docs/metrics.md does not name the translation strategy');
  // Unit and _total suffixes: the docs' table of how the Collector names things.
  assert.match(doc, /unit word appended unless the name already ends with it \(`s` → `_seconds`, `ms` → `_milliseconds`, `By` → `_bytes`, `\{…\}` dropped\), `_total` on monotonic sums/);
  // Resource attributes stay on target_info (docs: "A `target_info` gauge carries the resource attributes on both paths").
  assert.equal(prom.resource_constant_labels, undefined);
  assert.equal(prom.resource_to_telemetry_conversion, undefined);
  assert.match(doc, /A `target_info` gauge carries the resource\s+attributes on both paths/);
  // The exporter derives job/instance from service.name/service.instance.id; Prometheus keeps them.
  assert.match(doc, /its exporter\s+derives `job`\/`instance` from `service.name`\/`service.instance.id`/);
  const job = (loadYaml(PROMETHEUS_CONFIG).scrape_configs as Yaml[]).find((j) => j.job_name === 'otel-collector')!;
  assert.equal(job.honor_labels, true);
});

test('deploy/jaeger.yaml: wired, storage names resolve, Monitor tab reads traces_span_metrics from Prometheus', () => {
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
  assert.deepEqual(cfg.service.telemetry.metrics.readers, [{ pull: { exporter: { prometheus: { host: '0.0.0.0', port: 8888 } } } }]);
  assert.equal(cfg.connectors, undefined);
});

test('across files: one metrics path, every host is a compose service, ports agree', () => {
  const compose = loadYaml(COMPOSE);
  const services = compose.services as Record<string, Yaml>;
  const collector = loadYaml(COLLECTOR);
  const jaeger = loadYaml(JAEGER);
  const prometheus = loadYaml(PROMETHEUS_CONFIG);

  // Prometheus scrapes the Collector's exporter and the stack's own components; never a service's /metrics.
  const targets = Object.fromEntries((prometheus.scrape_configs as Yaml[]).map((j) => [j.job_name, j.static_configs.flatMap((s: Yaml) => s.targets)]));
  assert.deepEqual(targets, {
    'otel-collector': [`otel-collector:${port(collector.exporters.prometheus.endpoint)}`],
    'otel-collector-self': [`otel-collector:${collector.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port}`],
    jaeger: [`jaeger:${jaeger.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port}`],
    alertmanager: ['alertmanager:9093'],
    prometheus: ['localhost:9090'],
  });
  for (const name of ['chat-service', 'chat-driver']) {
    const env = services[name].environment;
    // Metrics go to the Collector over OTLP (the one path); the in-process /metrics is not used here.
    assert.equal(env.OTEL_METRICS_EXPORTER, 'otlp', name);
    assert.equal(env.OTEL_TRACES_EXPORTER, 'otlp', name);
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${port(collector.receivers.otlp.protocols.http.endpoint)}`, name);
    assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf', name);
    assert.equal(env.OTEL_SERVICE_NAME, name);
    assert.equal(services[name].ports?.some((p: string) => p.endsWith(':9464')) ?? false, false, `${name} publishes the in-process /metrics port`);
  }
  assert.equal(collector.exporters['otlp_grpc/jaeger'].endpoint, `jaeger:${port(jaeger.receivers.otlp.protocols.grpc.endpoint)}`);
  assert.deepEqual(prometheus.alerting.alertmanagers[0].static_configs[0].targets, ['alertmanager:9093']);
  assert.deepEqual(prometheus.rule_files, ['rules/*.rules.yml']);

  const env = services['chat-service'].environment;
  const hosts = [
    ...Object.values(targets).flatMap((ts) => (ts as string[]).map((x) => x.split(':')[0])).filter((h) => h !== 'localhost'),
    new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT).hostname,
    new URL(services['chat-driver'].environment.TARGET_URL).hostname,
    collector.exporters['otlp_grpc/jaeger'].endpoint.split(':')[0],
    collector.receivers.postgresql.endpoint.split(':')[0],
    collector.receivers.redis.endpoint.split(':')[0],
    new URL(jaeger.extensions.jaeger_storage.metric_backends.metrics_store.prometheus.endpoint).hostname,
    new URL(env.PG_URL).hostname,
    new URL(env.REDIS_URL).hostname,
    new URL(env.AMQP_URL).hostname,
  ];
  for (const h of hosts) assert.ok(h in services, `${h} is not a compose service`);
  // Published ports are the ones the configs listen on.
  const published = (services['otel-collector'].ports as string[]).map((p) => p.split(':')[1].replace('/udp', ''));
  for (const id of ['otlp', 'otlp/other', 'jaeger']) for (const ep of listenEndpoints(collector.receivers[id])) assert.ok(published.includes(port(ep)), `collector port ${ep} is not published`);
  assert.deepEqual(services['otel-collector'].command, ['--config=/etc/otelcol-contrib/config.yaml']);
  assert.deepEqual(services.jaeger.command, ['--config', '/etc/jaeger/config.yml']);
  assert.ok((services['otel-collector'].volumes as string[]).includes('/:/hostfs:ro'));
  assert.equal(collector.receivers.host_metrics.root_path, '/hostfs');
});

test('logs: Collector → the `elastic` profile\'s Elasticsearch ← Kibana and Grafana; pinned equal tags; the service ships only when asked', () => {
  const compose = loadYaml(COMPOSE);
  const collector = loadYaml(COLLECTOR);
  assert.deepEqual(collector.service.pipelines.logs, { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['elasticsearch'] });
  const es = compose.services.elasticsearch;
  const kibana = compose.services.kibana;
  assert.deepEqual(es.profiles, ['elastic']);
  assert.deepEqual(kibana.profiles, ['elastic']);
  const tag = (image: string): string => image.slice(image.lastIndexOf(':') + 1);
  assert.match(es.image, /^docker\.elastic\.co\/elasticsearch\/elasticsearch:\d+\.\d+\.\d+$/);
  assert.match(kibana.image, /^docker\.elastic\.co\/kibana\/kibana:\d+\.\d+\.\d+$/);
  assert.equal(tag(kibana.image), tag(es.image));
  const esPort = (es.ports as string[]).map((p) => p.split(':').at(-1))[0];
  const exporter = new URL(collector.exporters.elasticsearch.endpoint);
  assert.equal(exporter.hostname, 'elasticsearch');
  assert.equal(exporter.port, esPort);
  assert.equal(new URL(kibana.environment.ELASTICSEARCH_HOSTS).host, exporter.host);
  // The service ships logs only when the user opts in: without the profile the Collector could not deliver them.
  assert.equal(compose.services['chat-service'].environment.OTEL_LOGS_EXPORTER, '${OTEL_LOGS_EXPORTER:-none}');
  // Grafana: the Elasticsearch data source points at the same place, and Jaeger's trace view links to it.
  const dsDir = join(ROOT, 'deploy', 'grafana', 'provisioning', 'datasources');
  const esDs = (loadYaml(join(dsDir, 'elasticsearch.yaml')).datasources as Yaml[])[0];
  assert.equal(esDs.type, 'elasticsearch');
  assert.equal(new URL(esDs.url).host, exporter.host);
  const jaegerDs = (loadYaml(join(dsDir, 'datasources.yaml')).datasources as Yaml[]).find((d) => d.type === 'jaeger') as Yaml;
  assert.equal(jaegerDs.jsonData.tracesToLogsV2.datasourceUid, esDs.uid);
  // `$$` is Grafana's escape for a literal `$` in provisioning files (a single `$` would be read as an env variable).
  assert.equal(jaegerDs.jsonData.tracesToLogsV2.query, 'trace_id:"$${__trace.traceId}"');
});
