/**
 * The realistic handler (issue 4): a plain `node:http` server whose every request runs one PostgreSQL query
 * and one Redis GET, measured out of process. Per case the server is a fresh child process; after a warm-up
 * the bench asks it (over IPC, not HTTP) for `process.cpuUsage()` before and after a fixed number of requests
 * sent by a bounded keep-alive client in this process, and reports server CPU per request and throughput.
 *
 * Cases: plain (no preload); upstream OpenTelemetry (bench/upstream-preload.ts: TracerProvider +
 * BatchSpanProcessor + http/pg/ioredis instrumentations) with AlwaysOn (100%) and TraceIdRatioBased(0.1),
 * to a no-op exporter and to OTLP/protobuf; tenantscope (`--require register.js`, instrumentations
 * http,pg,ioredis) at `always_on` and `traceidratio` 0.1, exporting OTLP/protobuf. Every OTLP case sends to
 * the same loopback sink in this process, which reads and discards the body (its CPU is not the server's).
 * tenantscope cannot be given a no-op exporter from the environment, so the fair comparison is against
 * upstream with the same OTLP exporter; the no-op rows show what export itself costs.
 *
 * Run alone: `npx node build/bench/handler.bench.js` (BENCH_REQUESTS, BENCH_WARMUP, BENCH_ROUNDS, BENCH_CONCURRENCY).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { emit, median, type BenchRow } from './harness';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TENANTS = 1000;
const ROOT = join(__dirname, '..', '..');

interface Case {
  readonly name: string;
  readonly preload?: string;
  readonly env: Record<string, string>;
}

function cases(sink: string): Case[] {
  const upstream = join(__dirname, 'upstream-preload.js');
  const ts = join(ROOT, 'register.js');
  const tsEnv = {
    OTEL_SERVICE_NAME: 'bench-tenantscope',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg,ioredis',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink,
    OTEL_METRICS_EXPORTER: 'none',
  };
  return [
    { name: 'plain', env: {} },
    { name: 'upstream 100% (no-op exporter)', preload: upstream, env: { BENCH_SAMPLER: 'always_on', BENCH_EXPORTER: 'noop' } },
    { name: 'upstream 10% (no-op exporter)', preload: upstream, env: { BENCH_SAMPLER: '0.1', BENCH_EXPORTER: 'noop' } },
    { name: 'upstream 100% (OTLP)', preload: upstream, env: { BENCH_SAMPLER: 'always_on', BENCH_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink } },
    { name: 'upstream 10% (OTLP)', preload: upstream, env: { BENCH_SAMPLER: '0.1', BENCH_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink } },
    { name: 'tenantscope 100% (OTLP)', preload: ts, env: { ...tsEnv, OTEL_TRACES_SAMPLER: 'always_on' } },
    { name: 'tenantscope 10% (OTLP)', preload: ts, env: { ...tsEnv, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' } },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Server side: `node [--require preload] build/bench/handler.bench.js --server`
// ---------------------------------------------------------------------------------------------------------

function runServer(): void {
  // Required here, after the preload ran, so the instrumentations can patch them.
  const { Pool } = require('pg') as typeof import('pg');
  const Redis = require('ioredis') as typeof import('ioredis').default;
  const pool = new Pool({ connectionString: process.env.TEST_PG_URL, max: 8 });
  const redis = new Redis(process.env.TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
  const server = createServer((req, res) => {
    const id = Number((req.url ?? '').slice('/v1/conversations/'.length)) | 0;
    pool
      .query('SELECT $1::int AS n', [id])
      .then((r) => redis.get(`conv:${r.rows[0].n as number}`))
      .then((cached) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id, cached }));
      })
      .catch((err: Error) => {
        res.statusCode = 500;
        res.end(err.message);
      });
  });
  let start: NodeJS.CpuUsage | undefined;
  process.on('message', (m: string) => {
    if (m === 'start') {
      start = process.cpuUsage();
      process.send!({ started: true });
    } else if (m === 'stop') {
      const d = process.cpuUsage(start);
      process.send!({ cpuMicros: d.user + d.system });
    } else if (m === 'exit') {
      // The IPC channel alone keeps the process alive: let go of it too, so the process ends (and writes
      // its --cpu-prof profile).
      server.close();
      server.closeAllConnections();
      void pool.end();
      void redis.quit();
      process.disconnect();
    }
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

// ---------------------------------------------------------------------------------------------------------
// Driver side
// ---------------------------------------------------------------------------------------------------------

interface Running {
  proc: ChildProcess;
  port: number;
  ask(msg: string): Promise<Record<string, unknown>>;
}

function startServer(c: Case, services: { pgUrl: string; redisUrl: string }): Promise<Running> {
  const proc = fork(__filename, ['--server'], {
    execArgv: [
      ...(c.preload === undefined ? [] : ['--require', c.preload]),
      ...(process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF]),
    ],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TEST_PG_URL: services.pgUrl, TEST_REDIS_URL: services.redisUrl, ...c.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies: ((m: Record<string, unknown>) => void)[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${c.name}: server did not start`)), 20_000);
    proc.on('message', (m: Record<string, unknown>) => {
      if (typeof m.port === 'number') {
        clearTimeout(timer);
        resolve({
          proc,
          port: m.port,
          ask: (msg) =>
            new Promise((r) => {
              replies.push(r);
              proc.send(msg);
            }),
        });
      } else replies.shift()?.(m);
    });
    proc.once('exit', (code) => reject(new Error(`${c.name}: server exited with ${code}`)));
  });
}

/** Sends `n` requests over `CONCURRENCY` keep-alive connections; bounded by count and by a time budget. */
async function drive(port: number, n: number, budgetMs: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  let failed = 0;
  const deadline = Date.now() + budgetMs;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: `/v1/conversations/${i % 5000}`, headers: { 'x-tenant-id': `tenant-${i % TENANTS}` }, agent },
        (res) => {
          if (res.statusCode !== 200) failed++;
          res.resume();
          res.on('end', resolve);
        }
      );
      req.on('error', reject);
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (sent < n) {
      if (Date.now() > deadline) throw new Error(`load did not finish within ${budgetMs} ms (${sent}/${n})`);
      await one(sent++);
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  if (failed > 0) throw new Error(`${failed} requests failed`);
  return n / secs;
}

/** A loopback OTLP sink: reads and discards every body, answers an empty ExportTraceServiceResponse. */
function startSink(): Promise<{ server: Server; url: string; requests: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.setHeader('content-type', 'application/x-protobuf');
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests: () => count }))
  );
}

async function measure(c: Case, services: { pgUrl: string; redisUrl: string }): Promise<{ cpuUs: number; rps: number }> {
  const s = await startServer(c, services);
  try {
    await drive(s.port, WARMUP, 60_000);
    await s.ask('start');
    const rps = await drive(s.port, REQUESTS, 120_000);
    const { cpuMicros } = (await s.ask('stop')) as { cpuMicros: number };
    return { cpuUs: cpuMicros / REQUESTS, rps };
  } finally {
    // A clean exit when profiling (the profile is written on exit), else no waiting.
    if (process.env.BENCH_CPU_PROF !== undefined) {
      const exited = new Promise((r) => s.proc.once('exit', r));
      s.proc.send('exit');
      await exited;
    } else s.proc.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const { startServices } = require('../test/helpers/services') as typeof import('../test/helpers/services');
  const services = await startServices();
  const sink = await startSink();
  // BENCH_CASES: a comma-separated list of case-name prefixes to run (all by default).
  const only = process.env.BENCH_CASES?.split(',');
  const all = cases(sink.url).filter((c) => c.name === 'plain' || only === undefined || only.some((p) => c.name.startsWith(p)));
  const cpu = new Map<string, number[]>();
  const rps = new Map<string, number[]>();
  try {
    // Rounds interleave the cases, so a slow phase of the machine hits every case alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of all) {
        const m = await measure(c, services);
        (cpu.get(c.name) ?? cpu.set(c.name, []).get(c.name)!).push(m.cpuUs);
        (rps.get(c.name) ?? rps.set(c.name, []).get(c.name)!).push(m.rps);
        if (!process.argv.includes('--json')) process.stderr.write(`round ${r + 1} ${c.name}: ${m.cpuUs.toFixed(1)} µs CPU/req, ${Math.round(m.rps)} req/s\n`);
      }
    }
  } finally {
    sink.server.close();
    await services.stop();
  }
  const med = (m: Map<string, number[]>, name: string): number => median(m.get(name)!);
  const baselineOf = (name: string): string | undefined => {
    if (name === 'tenantscope 100% (OTLP)') return 'upstream 100% (OTLP)';
    if (name === 'tenantscope 10% (OTLP)') return 'upstream 10% (OTLP)';
    if (name.startsWith('upstream')) return 'plain';
    return undefined;
  };
  const rows: BenchRow[] = [];
  for (const c of all) {
    const found = baselineOf(c.name);
    const base = found !== undefined && cpu.has(found) ? found : undefined;
    rows.push({
      bench: 'handler',
      case: `${c.name}: CPU per request`,
      value: med(cpu, c.name),
      unit: 'µs',
      ratio: base === undefined ? undefined : med(cpu, c.name) / med(cpu, base),
      ratioTo: base === undefined ? undefined : `vs ${base}`,
    });
  }
  for (const c of all) {
    rows.push({ bench: 'handler', case: `${c.name}: throughput`, value: med(rps, c.name), unit: 'req/s', ratio: med(rps, c.name) / med(rps, 'plain'), ratioTo: 'vs plain' });
  }
  const notes = [
    `${REQUESTS} measured requests per case after ${WARMUP} warm-up, ${CONCURRENCY} keep-alive connections, median of ${ROUNDS} interleaved rounds; server CPU = process.cpuUsage() user+system of the server process.`,
    `OTLP sink received ${sink.requests()} export requests in all.`,
  ];
  if (all.length === cases('').length) notes.splice(1, 0, ...targets(cpu));
  emit({ title: 'Realistic handler: pg query + redis GET per request (server CPU per request, throughput)', rows, notes });
}

function targets(cpu: Map<string, number[]>): string[] {
  const med = (name: string): number => median(cpu.get(name)!);
  const ts10 = med('tenantscope 10% (OTLP)');
  return [
    `Target 1 (≤ 5% more CPU than upstream at the same export ratio): 100%: ${pct(med('tenantscope 100% (OTLP)') / med('upstream 100% (OTLP)'))}, 10%: ${pct(ts10 / med('upstream 10% (OTLP)'))}.`,
    `Target 2 (tenantscope exporting 10% below upstream at 100%): ${(ts10 / med('upstream 100% (OTLP)')).toFixed(2)}× upstream 100% (OTLP), ${(ts10 / med('upstream 100% (no-op exporter)')).toFixed(2)}× upstream 100% (no-op exporter).`,
  ];
}

function pct(ratio: number): string {
  const d = (ratio - 1) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

if (process.argv.includes('--server')) runServer();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
