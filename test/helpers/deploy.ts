/**
 * Shared by the tests of the deployment files (docker-compose.yml, otel-collector.yaml, deploy/): where they are,
 * a YAML loader (the `yaml` package, a devDependency), and whether a command-line tool is installed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = join(__dirname, '..', '..', '..');
export const COLLECTOR = join(ROOT, 'otel-collector.yaml');
export const COMPOSE = join(ROOT, 'docker-compose.yml');
export const JAEGER = join(ROOT, 'deploy', 'jaeger.yaml');
export const PROMETHEUS_DIR = join(ROOT, 'deploy', 'prometheus');
export const PROMETHEUS_CONFIG = join(PROMETHEUS_DIR, 'prometheus.yml');
export const RULES_DIR = join(PROMETHEUS_DIR, 'rules');
export const RULE_TESTS_DIR = join(PROMETHEUS_DIR, 'tests');
export const ALERTMANAGER_CONFIG = join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml');
export const GRAFANA_DIR = join(ROOT, 'deploy', 'grafana');
export const DASHBOARDS_DIR = join(GRAFANA_DIR, 'dashboards');
export const KUBERNETES_DIR = join(ROOT, 'deploy', 'kubernetes');

export type Yaml = Record<string, any>;  

/** Parses one YAML document. */
export function loadYaml(path: string): Yaml {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as Yaml;
}

/** Parses every document of a multi-document YAML file (Kubernetes manifests), skipping empty ones. */
export function loadYamlAll(path: string): Yaml[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { merge: true })
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${path}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Yaml | null;
    })
    .filter((d): d is Yaml => d !== null);
}

/** Files in `dir` whose names end with `suffix`, sorted, as absolute paths. */
export function filesIn(dir: string, suffix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => join(dir, f));
}

/** True when `cmd` is on the PATH. */
export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** A rule of a Prometheus rule file. */
export interface PromRule {
  group: string;
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Every rule of every `*.rules.yml` file in deploy/prometheus/rules, in file order. */
export function loadRules(): PromRule[] {
  const rules: PromRule[] = [];
  for (const file of filesIn(RULES_DIR, '.rules.yml')) {
    for (const g of loadYaml(file).groups as Yaml[]) for (const r of g.rules as Yaml[]) rules.push({ group: g.name, ...r } as PromRule);
  }
  return rules;
}

/**
 * Collector-style wiring problems: a pipeline naming a receiver/processor/exporter/connector that is not
 * defined, a service extension that is not defined, a defined component no pipeline uses, a connector that is
 * not both an exporter (of one pipeline) and a receiver (of another).
 */
export function wiringProblems(cfg: Yaml): string[] {
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
        const isConnector = role !== 'processors' && connectors.has(id);
        used.add(isConnector ? `connector-as-${role}:${id}` : `${role}:${id}`);
        if (!sections[role].has(id) && !isConnector) problems.push(`pipeline ${name} uses undefined ${role.slice(0, -1)} ${id}`);
      }
    }
    if (((p.receivers ?? []) as string[]).length === 0) problems.push(`pipeline ${name} has no receivers`);
    if (((p.exporters ?? []) as string[]).length === 0) problems.push(`pipeline ${name} has no exporters`);
  }
  for (const role of ['receivers', 'processors', 'exporters'] as const) {
    for (const id of sections[role]) if (!used.has(`${role}:${id}`)) problems.push(`${role.slice(0, -1)} ${id} is defined but unused`);
  }
  for (const id of connectors) {
    if (!used.has(`connector-as-exporters:${id}`)) problems.push(`connector ${id} is no pipeline's exporter`);
    if (!used.has(`connector-as-receivers:${id}`)) problems.push(`connector ${id} is no pipeline's receiver`);
  }
  const extensions = defined('extensions');
  for (const id of (cfg.service?.extensions ?? []) as string[]) if (!extensions.has(id)) problems.push(`service uses undefined extension ${id}`);
  for (const id of extensions) if (!((cfg.service?.extensions ?? []) as string[]).includes(id)) problems.push(`extension ${id} is defined but not enabled`);
  return problems;
}

