/**
 * deploy/kubernetes/ checked without a cluster (none runs here): every object validated against the Kubernetes
 * API schemas shipped by the `kubernetes-models` package (a devDependency), the Collector configs inside the
 * ConfigMaps checked for wiring like otel-collector.yaml, the Prometheus config inside its ConfigMap checked by
 * `promtool check config`, and the cross-references a cluster would resolve at run time (selectors match
 * labels, ConfigMaps and Services exist, the agent's host ports are what the service sends to, the pods
 * Prometheus should scrape carry its annotations).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { filesIn, KUBERNETES_DIR, loadYaml, loadYamlAll, wiringProblems, type Yaml } from '../helpers/deploy';
import { PROMTOOL_BIN } from '../helpers/prometheus';

const FILES = filesIn(KUBERNETES_DIR, '.yaml').filter((f) => !f.endsWith('kustomization.yaml'));
const objects = FILES.flatMap((f) => loadYamlAll(f).map((o) => ({ file: f.slice(KUBERNETES_DIR.length + 1), o })));
const find = (kind: string, name: string): Yaml => {
  const hit = objects.find(({ o }) => o.kind === kind && o.metadata?.name === name);
  assert.ok(hit, `no ${kind} ${name}`);
  return hit.o;
};

/** The kubernetes-models class for an object's apiVersion/kind (the package is ESM-only: dynamic import). */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: Yaml) => { validate(): void }> {
  const group = apiVersion === 'v1' ? 'v1' : apiVersion;
  const mod = (await import(`kubernetes-models/${group}/${kind}`)) as Record<string, new (data: Yaml) => { validate(): void }>;
  assert.ok(mod[kind], `kubernetes-models has no ${apiVersion} ${kind}`);
  return mod[kind];
}

test('the kustomization lists every manifest', () => {
  const k = loadYaml(join(KUBERNETES_DIR, 'kustomization.yaml'));
  assert.deepEqual([...k.resources].sort(), FILES.map((f) => f.slice(KUBERNETES_DIR.length + 1)).sort());
});

test('every object is valid against the Kubernetes API schema, and an invalid one is rejected', async () => {
  assert.deepEqual(objects.map(({ o }) => `${o.kind}/${o.metadata.name}`).sort(), [
    'ClusterRole/tenantscope-prometheus',
    'ClusterRoleBinding/tenantscope-prometheus',
    'ConfigMap/otel-agent',
    'ConfigMap/otel-gateway',
    'ConfigMap/prometheus',
    'DaemonSet/otel-agent',
    'Deployment/chat-service',
    'Deployment/otel-gateway',
    'Deployment/prometheus',
    'Namespace/tenantscope',
    'Service/chat-service',
    'Service/otel-gateway',
    'Service/prometheus',
    'ServiceAccount/prometheus',
  ]);
  for (const { file, o } of objects) {
    const Model = await modelFor(o.apiVersion, o.kind);
    assert.doesNotThrow(() => new Model(o).validate(), `${file}: ${o.kind}/${o.metadata.name}`);
  }
  // The validation can fail: a container port given as a string, a Deployment without a selector.
  const Deployment = await modelFor('apps/v1', 'Deployment');
  const broken = structuredClone(find('Deployment', 'chat-service'));
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  assert.throws(() => new Deployment(broken).validate());
  const noSelector = structuredClone(find('Deployment', 'chat-service'));
  delete noSelector.spec.selector;
  assert.throws(() => new Deployment(noSelector).validate());
});

test('the service runs under NODE_OPTIONS=--require tenantscope/register and sends OTLP to its node\'s agent', () => {
  const pod = find('Deployment', 'chat-service').spec.template.spec;
  const env = Object.fromEntries((pod.containers[0].env as Yaml[]).map((e) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.NODE_OPTIONS, '--require tenantscope/register');
  assert.deepEqual(env.NODE_IP, { fieldRef: { fieldPath: 'status.hostIP' } });
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://$(NODE_IP):4318');
  assert.equal(env.OTEL_METRICS_EXPORTER, 'otlp');
  assert.equal(env.OTEL_SERVICE_NAME, 'chat-service');
  assert.match(env.OTEL_RESOURCE_ATTRIBUTES, /service\.instance\.id=\$\(POD_NAME\)/);
  // The service's pods are not scraped directly (one metrics path: the agent's exporter).
  assert.equal(find('Deployment', 'chat-service').spec.template.metadata.annotations, undefined);
  // The agent listens on that host port.
  const agent = find('DaemonSet', 'otel-agent').spec.template.spec.containers[0];
  const hostPorts = (agent.ports as Yaml[]).filter((p) => p.hostPort !== undefined).map((p) => `${p.hostPort}/${p.protocol}`);
  assert.ok(hostPorts.includes('4318/TCP') && hostPorts.includes('4317/TCP'), hostPorts.join(','));
});

test('selectors match pod labels; ConfigMaps, Services and the ServiceAccount that pods name exist', () => {
  for (const { o } of objects.filter(({ o }) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
    const labels = o.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(o.spec.selector.matchLabels)) assert.equal(labels[k], v, `${o.metadata.name}: selector ${k}`);
    for (const v of (o.spec.template.spec.volumes ?? []) as Yaml[]) if (v.configMap && !v.configMap.optional) find('ConfigMap', v.configMap.name);
    if (o.spec.template.spec.serviceAccountName) find('ServiceAccount', o.spec.template.spec.serviceAccountName);
    assert.equal(o.metadata.namespace, 'tenantscope');
  }
  for (const { o } of objects.filter(({ o }) => o.kind === 'Service')) {
    const target = objects.find(({ o: d }) => (d.kind === 'Deployment' || d.kind === 'DaemonSet') && Object.entries(o.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
    assert.ok(target, `Service ${o.metadata.name} selects no pods`);
    const ports = (target.o.spec.template.spec.containers[0].ports as Yaml[]).map((p) => p.name);
    for (const p of o.spec.ports as Yaml[]) assert.ok(ports.includes(p.targetPort), `Service ${o.metadata.name}: no container port ${p.targetPort}`);
  }
});

test('the Collector agent and gateway configs are wired; agents export metrics to Prometheus and traces to the gateway', () => {
  const agent = parse(find('ConfigMap', 'otel-agent').data['config.yaml']) as Yaml;
  const gateway = parse(find('ConfigMap', 'otel-gateway').data['config.yaml']) as Yaml;
  assert.deepEqual(wiringProblems(agent), []);
  assert.deepEqual(wiringProblems(gateway), []);
  for (const cfg of [agent, gateway]) for (const p of Object.values(cfg.service.pipelines) as Yaml[]) assert.equal(p.processors[0], 'memory_limiter');
  // Traces: agent -> gateway Service -> Jaeger.
  const gw = find('Service', 'otel-gateway');
  assert.equal(agent.exporters['otlp_grpc/gateway'].endpoint, `${gw.metadata.name}.${gw.metadata.namespace}.svc.cluster.local:4317`);
  assert.deepEqual(gateway.service.pipelines.traces.exporters, ['otlp_grpc/jaeger']);
  // Metrics never pass the gateway (a cumulative series must come out of exactly one collector).
  assert.deepEqual(Object.keys(gateway.service.pipelines), ['traces']);
  assert.equal(agent.exporters.prometheus.endpoint, '0.0.0.0:8889');
  assert.equal(agent.exporters.prometheus.translation_strategy, 'UnderscoreEscapingWithSuffixes');
  assert.equal(agent.exporters.prometheus.enable_open_metrics, true);
  // The span_metrics connector only for services that do not run tenantscope.
  assert.deepEqual(Object.entries(agent.service.pipelines as Record<string, Yaml>).filter(([, p]) => p.exporters.includes('span_metrics')).map(([n]) => n), ['traces/other']);
  // The ports each config listens on are the containers' ports.
  const agentPorts = (find('DaemonSet', 'otel-agent').spec.template.spec.containers[0].ports as Yaml[]).map((p) => String(p.containerPort));
  for (const id of ['otlp', 'otlp/other', 'jaeger']) for (const p of Object.values(agent.receivers[id].protocols) as Yaml[]) assert.ok(agentPorts.includes(p.endpoint.split(':')[1]), p.endpoint);
  // Health checks for the probes.
  assert.equal(find('DaemonSet', 'otel-agent').spec.template.spec.containers[0].readinessProbe.httpGet.port, 'health');
  assert.equal(agent.extensions.health_check.endpoint, '0.0.0.0:13133');
});

test('Prometheus scrapes by pod annotation: its config passes promtool, and the collector pods carry the annotations', () => {
  const text = find('ConfigMap', 'prometheus').data['prometheus.yml'] as string;
  const dir = mkdtempSync(join(tmpdir(), 'k8s-prom-'));
  try {
    writeFileSync(join(dir, 'prometheus.yml'), text);
    let r = spawnSync(PROMTOOL_BIN, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    if (r.status !== 0 && /field kubernetes_sd_configs not found/.test(r.stdout + r.stderr)) {
      // Debian's promtool 2.42 (+ds) is built without Kubernetes service discovery. Stand-in: the same config
      // with the pod discovery replaced by a static target, so promtool still checks everything else (the
      // relabelling rules, rule_files, intervals); upstream's promtool and image know kubernetes_sd_configs.
      writeFileSync(join(dir, 'prometheus.yml'), text.replace(/kubernetes_sd_configs:\n(\s+)- role: pod/, "static_configs:\n$1- targets: ['pod:8889']"));
      r = spawnSync(PROMTOOL_BIN, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    }
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cfg = parse(text) as Yaml;
  const job = cfg.scrape_configs[0];
  assert.deepEqual(job.kubernetes_sd_configs, [{ role: 'pod' }]);
  assert.deepEqual(job.relabel_configs[0], { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], action: 'keep', regex: 'true' });
  const agent = find('DaemonSet', 'otel-agent').spec.template.metadata.annotations;
  assert.deepEqual(agent, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8889', 'prometheus.io/path': '/metrics' });
  assert.equal(find('Deployment', 'otel-gateway').spec.template.metadata.annotations['prometheus.io/port'], '8888');
  // Prometheus may list pods.
  assert.deepEqual(find('ClusterRole', 'tenantscope-prometheus').rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
});
