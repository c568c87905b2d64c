/**
 * A real Prometheus server for tests (Debian package `prometheus`, `/usr/bin/prometheus`): started on a free
 * loopback port with a temporary config and TSDB directory, scraping the given targets every second.
 * PromQL instant queries go over its HTTP API (`/api/v1/query`). `stop()` kills it and removes the temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

export interface PrometheusOptions {
  /** `host:port` addresses to scrape at `/metrics`. */
  targets: string[];
  /** Job label of the scrape config. Default `app`. */
  job?: string;
  /** Default `1s`. */
  scrapeInterval?: string;
  /** How long to wait for the server to become ready. Default 30 s. */
  startTimeoutMs?: number;
  /** More scrape jobs, each with its own job label (the main job keeps `job` / `targets`). */
  extraJobs?: { job: string; targets: string[] }[];
  /** Rule files (absolute paths) to load; rules are evaluated every second. */
  ruleFiles?: string[];
  /** Extra command-line flags, e.g. `--enable-feature=exemplar-storage`. */
  extraArgs?: string[];
}

/** A rule as `/api/v1/rules` reports it. */
export interface PromRuleState {
  name: string;
  type: 'recording' | 'alerting';
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  query: string;
}

/** One element of an instant-vector result. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** Exemplars of one series as `/api/v1/query_exemplars` reports them (needs `--enable-feature=exemplar-storage`). */
export interface PromExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: number; timestamp: number }[];
}

/** The state of one scrape target as `/api/v1/targets` reports it. */
export interface PromTarget {
  job: string;
  instance: string;
  health: 'up' | 'down' | 'unknown';
  lastScrape: string;
  lastError: string;
}

export interface RunningPrometheus {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly job: string;
  /** Runs an instant query; returns the vector (a scalar result comes back as one sample without labels). */
  query(promql: string): Promise<PromSample[]>;
  /** Runs a range query from `start` to `end` (unix seconds) every `step` seconds; returns one entry per series. */
  queryRange(promql: string, start: number, end: number, step: number): Promise<{ metric: Record<string, string>; values: [number, string][] }[]>;
  /** Every loaded rule with its evaluation health. */
  rules(): Promise<PromRuleState[]>;
  /** The exemplars stored for the series `promql` selects, between `start` and `end` (unix seconds). */
  queryExemplars(promql: string, start: number, end: number): Promise<PromExemplarSeries[]>;
  /** Runs an instant query and maps the result by the value of `label` (e.g. `tenant_id`). */
  queryBy(promql: string, label: string): Promise<Record<string, number>>;
  /** Runs an instant query expected to return exactly one sample; returns its value. */
  queryOne(promql: string): Promise<number>;
  /** The active scrape targets. */
  targets(): Promise<PromTarget[]>;
  /** Waits until every target of the job is up and Prometheus has stored at least `n` scrapes of each. */
  waitForScrapes(n: number, timeoutMs?: number): Promise<void>;
  /**
   * Waits until every target of the job has completed `n` more scrapes, counted from the moment of the call:
   * with `n >= 2`, at least one scrape started after everything the caller did before calling.
   */
  waitForNewScrapes(n: number, timeoutMs?: number): Promise<void>;
  /** Prometheus's own stderr so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when the Prometheus binary is installed here. */
export function prometheusAvailable(): boolean {
  return existsSync(PROMETHEUS_BIN);
}

/** Starts Prometheus scraping `options.targets`; resolves once `/-/ready` answers 200. */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const job = options.job ?? 'app';
  const interval = options.scrapeInterval ?? '1s';
  const dir = mkdtempSync(join(tmpdir(), 'tenantscope-prom-'));
  const port = await freePort();
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    '  evaluation_interval: 1s',
    ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    'scrape_configs:',
    ...[{ job, targets: options.targets }, ...(options.extraJobs ?? [])].flatMap((j) => [
      `  - job_name: ${JSON.stringify(j.job)}`,
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ${JSON.stringify(j.targets)}`,
    ]),
    '',
  ].join('\n');
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, config);
  const proc: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] }
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 100_000) stderr += d;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${stderr}`);
    }
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within ${options.startTimeoutMs ?? 30000} ms:\n${stderr}`);
    }
    await sleep(100);
  }

  const query = async (promql: string): Promise<PromSample[]> => {
    const r = await fetch(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: promql }).toString(),
    });
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`PromQL ${promql} failed: ${body.error ?? r.status}`);
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return [{ metric: {}, value: Number((result as [number, string])[1]) }];
    if (resultType !== 'vector') throw new Error(`PromQL ${promql}: expected an instant vector, got ${resultType}`);
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  };

  const targets = async (): Promise<PromTarget[]> => {
    const r = await fetch(`${url}/api/v1/targets?state=active`);
    const body = (await r.json()) as { data: { activeTargets: { labels: Record<string, string>; health: PromTarget['health']; lastScrape: string; lastError: string }[] } };
    return body.data.activeTargets.map((t) => ({
      job: t.labels.job,
      instance: t.labels.instance,
      health: t.health,
      lastScrape: t.lastScrape,
      lastError: t.lastError,
    }));
  };

  const scrapeCounts = async (): Promise<number[]> => {
    const samples = await query(`count_over_time(up{job=${JSON.stringify(job)}}[1h])`);
    return samples.map((s) => s.value);
  };

  const queryRange = async (promql: string, start: number, end: number, step: number): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> => {
    const params = new URLSearchParams({ query: promql, start: String(start), end: String(end), step: String(step) });
    const r = await fetch(`${url}/api/v1/query_range?${params}`);
    const body = (await r.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
    return body.data.result;
  };

  const rules = async (): Promise<PromRuleState[]> => {
    const r = await fetch(`${url}/api/v1/rules`);
    const body = (await r.json()) as { data: { groups: { rules: PromRuleState[] }[] } };
    return body.data.groups.flatMap((g) => g.rules.map((x) => ({ name: x.name, type: x.type, health: x.health, lastError: x.lastError, query: x.query })));
  };

  const queryExemplars = async (promql: string, start: number, end: number): Promise<PromExemplarSeries[]> => {
    const params = new URLSearchParams({ query: promql, start: String(start), end: String(end) });
    const r = await fetch(`${url}/api/v1/query_exemplars?${params}`);
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data: { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string; timestamp: number }[] }[];
    };
    if (body.status !== 'success') throw new Error(`exemplars of ${promql}: ${body.error}`);
    return body.data.map((s) => ({ seriesLabels: s.seriesLabels, exemplars: s.exemplars.map((e) => ({ labels: e.labels, value: Number(e.value), timestamp: e.timestamp })) }));
  };

  const running: RunningPrometheus = {
    url,
    job,
    query,
    queryRange,
    rules,
    queryExemplars,
    async queryBy(promql, label) {
      const out: Record<string, number> = {};
      for (const s of await query(promql)) {
        const key = s.metric[label];
        if (key === undefined) throw new Error(`PromQL ${promql}: a sample has no label ${label}: ${JSON.stringify(s.metric)}`);
        if (key in out) throw new Error(`PromQL ${promql}: two samples for ${label}=${key}`);
        out[key] = s.value;
      }
      return out;
    },
    async queryOne(promql) {
      const samples = await query(promql);
      if (samples.length !== 1) throw new Error(`PromQL ${promql}: expected one sample, got ${JSON.stringify(samples)}`);
      return samples[0].value;
    },
    targets,
    async waitForScrapes(n, timeoutMs = 30000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const ts = (await targets()).filter((t) => t.job === job);
        const counts = await scrapeCounts();
        if (ts.length > 0 && ts.every((t) => t.health === 'up') && counts.length === ts.length && counts.every((c) => c >= n)) return;
        if (Date.now() > end) {
          throw new Error(`targets of job ${job} not up with ${n} scrapes within ${timeoutMs} ms: ${JSON.stringify(ts)} counts ${JSON.stringify(counts)}\n${stderr}`);
        }
        await sleep(100);
      }
    },
    async waitForNewScrapes(n, timeoutMs = 30000) {
      // Scrapes are counted from the `up` series Prometheus writes after each scrape's samples are appended.
      const base = await scrapeCounts();
      const end = Date.now() + timeoutMs;
      for (;;) {
        const now = await scrapeCounts();
        if (base.length > 0 && now.length === base.length && now.every((c, i) => c >= base[i] + n)) return;
        if (Date.now() > end) throw new Error(`fewer than ${n} new scrapes within ${timeoutMs} ms (before ${JSON.stringify(base)}, now ${JSON.stringify(now)})`);
        await sleep(100);
      }
    },
    log: () => stderr,
    stop,
  };
  return running;
}

/** Result of `promtool check metrics` on one exposition. */
export interface PromtoolResult {
  /** 0 = clean, 3 = lint problems only, 1 = the text could not be parsed. */
  status: number | null;
  /** One line per lint problem (`<metric> <problem>`), or the parse error. */
  problems: string[];
}

/** Pipes Prometheus exposition text into `promtool check metrics`. */
export function promtoolCheckMetrics(text: string): PromtoolResult {
  const r = spawnSync(PROMTOOL_BIN, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 });
  const problems = `${r.stdout ?? ''}${r.stderr ?? ''}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return { status: r.status, problems };
}
