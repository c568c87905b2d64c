/**
 * Throughput (issue 11): how many requests a server pinned to one core answers, plain, under upstream's
 * `@opentelemetry/auto-instrumentations-node/register` and under tenantscope's register, with the load generator
 * (autocannon, 32 keep-alive connections, bench/loadgen.ts) pinned to the other core.
 *
 * Servers (bench/servers.ts): `hello` (hello-world `node:http`) and `pgredis` (one PostgreSQL query and one Redis
 * GET per request). Contenders (bench/pinning.ts `contender`): OTLP/protobuf traces to a loopback sink in this
 * process at 100% and at 10%, Prometheus metrics on, OTLP logs exporter on; upstream restricted by env to the
 * instrumentations tenantscope enables. One fresh server process per measurement; rounds interleave every case,
 * so a slow phase of the shared machine hits each alike. Server CPU per request (`process.cpuUsage()` of the
 * server) is reported beside throughput: it is less sensitive to other processes on the server's core.
 *
 * `npx node build/bench/throughput.bench.js` — BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
 * BENCH_CONNECTIONS (32), BENCH_SERVERS (`hello,pgredis`), BENCH_CASES (case-name prefixes, e.g.
 * `upstream 100%,tenantscope 100%`; plain always runs), BENCH_CPU_PROF (a directory: servers write --cpu-prof
 * profiles there), BENCH_SERVER_ENV (extra `K=V,K=V` for the tenantscope server), BENCH_VARIANTS (more tenantscope
 * cases in the same rounds, e.g. `before:root=/tmp/before;upstream-metrics:TENANTSCOPE_UPSTREAM_METRICS=true`:
 * bench/pinning.ts `variantsFromEnv`), BENCH_SCRAPE=0 (skip the one scrape of /metrics after each measurement).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { emit, median, medianInterval, type BenchRow } from './harness';
import { DRIVER_CORE, SERVER_CORE, canPin, contender, freePort, pin, startSink, variantsFromEnv, type Contender } from './pinning';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SERVERS = (process.env.BENCH_SERVERS ?? 'hello,pgredis').split(',');
const TENANTS = 1000;
const PATHS = 5000;

interface Case {
  readonly name: string;
  readonly who: Contender;
  readonly ratio: number;
  readonly extraEnv?: Record<string, string>;
  readonly root?: string;
}

function allCases(): Case[] {
  const extra = Object.fromEntries(
    (process.env.BENCH_SERVER_ENV ?? '')
      .split(',')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
  );
  const list: Case[] = [
    { name: 'plain', who: 'plain', ratio: 1 },
    { name: 'upstream 100%', who: 'upstream', ratio: 1 },
    { name: 'tenantscope 100%', who: 'tenantscope', ratio: 1, extraEnv: extra },
    { name: 'upstream 10%', who: 'upstream', ratio: 0.1 },
    { name: 'tenantscope 10%', who: 'tenantscope', ratio: 0.1, extraEnv: extra },
  ];
  for (const v of variantsFromEnv()) {
    list.push({ name: `tenantscope 100% ${v.label}`, who: 'tenantscope', ratio: 1, extraEnv: { ...extra, ...v.env }, root: v.root });
    list.push({ name: `tenantscope 10% ${v.label}`, who: 'tenantscope', ratio: 0.1, extraEnv: { ...extra, ...v.env }, root: v.root });
  }
  const only = process.env.BENCH_CASES?.split(',');
  return list.filter((c) => c.who === 'plain' || only === undefined || only.some((p) => c.name.startsWith(p)));
}

interface Running {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly promPort: number;
  ask(msg: string): Promise<Record<string, unknown>>;
}

async function startServer(mode: string, c: Case, sink: string, services: { pgUrl: string; redisUrl: string } | undefined): Promise<Running> {
  const promPort = await freePort();
  const who = contender(c.who, { sink, promPort, ratio: c.ratio, root: c.root });
  const prof = process.env.BENCH_CPU_PROF;
  const proc = fork(join(__dirname, 'servers.js'), [mode], {
    execArgv: [...(who.preload === undefined ? [] : ['--require', who.preload]), ...(prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof])],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...(services === undefined ? {} : { TEST_PG_URL: services.pgUrl, TEST_REDIS_URL: services.redisUrl }),
      ...who.env,
      ...c.extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  pin(proc.pid, SERVER_CORE);
  const replies: ((m: Record<string, unknown>) => void)[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${c.name}: server did not start`)), 30_000);
    proc.on('message', (m: Record<string, unknown>) => {
      if (typeof m.port === 'number') {
        clearTimeout(timer);
        resolve({
          proc,
          port: m.port,
          promPort,
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

export interface LoadResult {
  rps: number;
  total: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  next: number;
}

/** Runs bench/loadgen.js pinned to the driver core; resolves with its JSON line. */
export function load(options: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'loadgen.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    pin(child.pid, DRIVER_CORE);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

/** GET /metrics once: its size in bytes (0 when nothing answers). */
export async function scrapeSize(port: number): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    return (await r.arrayBuffer()).byteLength;
  } catch {
    return 0;
  }
}

async function stop(s: Running): Promise<void> {
  const exited = new Promise((r) => s.proc.once('exit', r));
  if (process.env.BENCH_CPU_PROF !== undefined) {
    // A clean exit writes the profile.
    s.proc.send('exit');
    const t = setTimeout(() => s.proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
  } else {
    s.proc.kill('SIGKILL');
    await exited;
  }
}

interface Measured {
  rps: number;
  cpuUs: number;
  metricsBytes: number;
  /** Requests the server answered in all (warm-up included): divides a --cpu-prof profile into µs per request. */
  served: number;
}

async function measure(mode: string, c: Case, sink: string, services: { pgUrl: string; redisUrl: string } | undefined): Promise<Measured> {
  const s = await startServer(mode, c, sink, services);
  try {
    const url = `http://127.0.0.1:${s.port}`;
    const base = { url, connections: CONNECTIONS, tenants: TENANTS, paths: PATHS, pathStyle: 'id' };
    const warm = await load({ ...base, duration: WARMUP_SECONDS });
    await s.ask('cpu');
    const r = await load({ ...base, duration: SECONDS, offset: warm.next });
    const { cpuMicros } = (await s.ask('cpu')) as { cpuMicros: number };
    if (r.errors > 0 || r.non2xx > 0) throw new Error(`${mode} ${c.name}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
    const metricsBytes = c.who === 'plain' || process.env.BENCH_SCRAPE === '0' ? 0 : await scrapeSize(s.promPort);
    return { rps: r.rps, cpuUs: cpuMicros / r.total, metricsBytes, served: warm.total + r.total };
  } finally {
    await stop(s);
  }
}

async function main(): Promise<void> {
  pin(process.pid, DRIVER_CORE);
  const sink = await startSink();
  const services = SERVERS.includes('pgredis')
    ? await (require('../test/helpers/services') as typeof import('../test/helpers/services')).startServices()
    : undefined;
  const cases = allCases();
  const results = new Map<string, Measured[]>();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of SERVERS) {
        for (const c of cases) {
          const m = await measure(mode, c, sink.url, services);
          const key = `${mode} ${c.name}`;
          (results.get(key) ?? results.set(key, []).get(key)!).push(m);
          if (!process.argv.includes('--json')) {
            process.stderr.write(`round ${r + 1} ${key}: ${Math.round(m.rps)} req/s, ${m.cpuUs.toFixed(1)} µs CPU/req, /metrics ${m.metricsBytes} B, ${m.served} served\n`);
          }
        }
      }
    }
  } finally {
    sink.server.close();
    await services?.stop();
  }

  const med = (key: string, f: (m: Measured) => number): number => median(results.get(key)!.map(f));
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const mode of SERVERS) {
    for (const c of cases) {
      const key = `${mode} ${c.name}`;
      const pct = c.ratio >= 1 ? '100%' : '10%';
      // Every tenantscope case (variants too) is compared with upstream at the same export ratio.
      const base = c.who === 'tenantscope' && results.has(`${mode} upstream ${pct}`) ? `${mode} upstream ${pct}` : `${mode} plain`;
      const rps = med(key, (m) => m.rps);
      rows.push({
        bench: 'throughput',
        case: `${key}: throughput`,
        value: rps,
        unit: 'req/s',
        ratio: key === base ? undefined : rps / med(base, (m) => m.rps),
        ratioTo: key === base ? undefined : `vs ${base.slice(mode.length + 1)}`,
        note: c.who === 'plain' ? undefined : `${(rps / med(`${mode} plain`, (m) => m.rps)).toFixed(3)}× plain`,
      });
    }
    for (const c of cases) {
      const key = `${mode} ${c.name}`;
      const cpu = med(key, (m) => m.cpuUs);
      rows.push({
        bench: 'throughput',
        case: `${key}: server CPU per request`,
        value: cpu,
        unit: 'µs',
        ratio: c.who === 'plain' ? undefined : cpu / med(`${mode} plain`, (m) => m.cpuUs),
        ratioTo: c.who === 'plain' ? undefined : 'vs plain',
        note: c.who === 'plain' ? undefined : `/metrics ${Math.round(med(key, (m) => m.metricsBytes))} B`,
      });
    }
    for (const c of cases) {
      if (c.who !== 'tenantscope') continue;
      const pct = c.ratio >= 1 ? '100%' : '10%';
      const ts = `${mode} ${c.name}`;
      const up = `${mode} upstream ${pct}`;
      if (results.has(up)) {
        const target = pct === '100%' ? 1.25 : 1.0;
        const ratios = results.get(ts)!.map((m, i) => m.rps / results.get(up)![i].rps);
        const rps = ratios.map((r) => r.toFixed(2)).join(', ');
        const cpu = results.get(ts)!.map((m, i) => (results.get(up)![i].cpuUs / m.cpuUs).toFixed(2)).join(', ');
        const ci = medianInterval(ratios);
        notes.push(
          `${ts}: / upstream per round: throughput ${rps}; CPU-bound capacity (upstream CPU per request / ours) ${cpu}; ` +
            `median capacity ratio ${(med(up, (m) => m.cpuUs) / med(ts, (m) => m.cpuUs)).toFixed(2)}; target ≥ ${target.toFixed(2)}×. ` +
            `Median of the per-round throughput ratios ${median(ratios).toFixed(2)}×` +
            (ci === undefined ? ' (too few rounds for a 95 % interval)' : `, 95 % interval ${ci[0].toFixed(2)}–${ci[1].toFixed(2)}×`) +
            `; ${ratios.filter((r) => r < target).length} of ${ratios.length} rounds below the target.`
        );
      }
    }
  }
  notes.push(
    `${SECONDS} s of autocannon (${CONNECTIONS} connections) after ${WARMUP_SECONDS} s warm-up per measurement, fresh server each time, median of ${ROUNDS} interleaved rounds; ` +
      (canPin ? `server pinned to CPU ${SERVER_CORE}, load generator and sink to CPU ${DRIVER_CORE} (taskset).` : 'no taskset or one core: nothing pinned.'),
    `OTLP sink received ${sink.stats().requests} export requests, ${(sink.stats().bytes / 1e6).toFixed(1)} MB.`
  );
  emit({ title: 'Throughput: servers pinned to one core, autocannon on the other (plain, upstream register, tenantscope)', rows, notes });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
