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

export type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

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
