/**
 * Process helpers shared by the out-of-process benches (throughput, start-up, memory): CPU pinning with
 * `taskset` (server on one core, load generator and bench on another), a free port, a loopback OTLP sink, and
 * the environments of the three contenders (plain, upstream `auto-instrumentations-node/register`, tenantscope).
 * Imports no OpenTelemetry package.
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** True when `taskset` runs here and there are at least two cores to split. */
export const canPin: boolean = cpus().length >= 2 && spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;

/** The core the measured server runs on, and the one for everything else (bench, load generator, sink). */
export const SERVER_CORE = 0;
export const DRIVER_CORE = 1;

/** Pins every thread of `pid` to `core` (no-op where `taskset` is missing). */
export function pin(pid: number | undefined, core: number): void {
  if (!canPin || pid === undefined) return;
  spawnSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
}

/** A free TCP port on 127.0.0.1 (the test harness's helper, re-exported for the benches). */
export { freePort } from '../test/helpers/services';

export interface Sink {
  readonly url: string;
  readonly server: Server;
  /** Export requests and body bytes received so far. */
  stats(): { requests: number; bytes: number };
}

/** A loopback OTLP sink: reads and discards every body, answers 200 with an empty protobuf response. */
export function startSink(): Promise<Sink> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      res.setHeader('content-type', 'application/x-protobuf');
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, stats: () => ({ requests, bytes }) })
    )
  );
}

/** The repository root (build/bench/ → ../..). */
export const ROOT = join(__dirname, '..', '..');

export type Contender = 'plain' | 'upstream' | 'tenantscope';

/** The instrumentations tenantscope enables by default, which upstream's register is restricted to. */
const INSTRUMENTATIONS = 'http,undici,express,pg,ioredis,mongodb,pino,winston';

/**
 * The `--require` and environment of a contender. Both instrumented ones export OTLP/protobuf traces to `sink`
 * at `ratio` (1 = every trace), serve Prometheus metrics on `promPort` and have an OTLP logs exporter on; the
 * upstream one runs only the instrumentations tenantscope enables by default and the resource detectors that
 * need no network (env, host, os, process: its default `all` also asks cloud metadata services).
 */
export function contender(who: Contender, o: { sink: string; promPort: number; ratio: number; root?: string }): { preload?: string; env: Record<string, string> } {
  if (who === 'plain') return { env: {} };
  const common: Record<string, string> = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: o.sink,
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(o.promPort),
    OTEL_LOGS_EXPORTER: 'otlp',
    ...(o.ratio >= 1 ? { OTEL_TRACES_SAMPLER: 'always_on' } : { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: String(o.ratio) }),
  };
  if (who === 'upstream') {
    return {
      preload: require.resolve('@opentelemetry/auto-instrumentations-node/register'),
      env: { ...common, OTEL_SERVICE_NAME: 'bench-upstream', OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS, OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process' },
    };
  }
  return { preload: join(o.root ?? ROOT, 'register.js'), env: { ...common, OTEL_SERVICE_NAME: 'bench-tenantscope' } };
}

/** A tenantscope variant to measure beside the default one: its own environment and/or another checkout's build. */
export interface Variant {
  readonly label: string;
  readonly env: Record<string, string>;
  /** A directory with register.js and build/ (e.g. a copy of the tree before a change); default this one. */
  readonly root?: string;
}

/**
 * BENCH_VARIANTS: `label:K=V,K=V;label2:root=/tmp/before` — each adds tenantscope cases with that environment
 * (`root=` picks another tree's register.js), measured in the same interleaved rounds as the rest.
 */
export function variantsFromEnv(raw = process.env.BENCH_VARIANTS ?? ''): Variant[] {
  return raw
    .split(';')
    .filter((v) => v.includes(':'))
    .map((v) => {
      const label = v.slice(0, v.indexOf(':'));
      const env: Record<string, string> = {};
      let root: string | undefined;
      for (const kv of v.slice(v.indexOf(':') + 1).split(',')) {
        if (!kv.includes('=')) continue;
        const k = kv.slice(0, kv.indexOf('='));
        const val = kv.slice(kv.indexOf('=') + 1);
        if (k === 'root') root = val;
        else env[k] = val;
      }
      return { label, env, root };
    });
}
