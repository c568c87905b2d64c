/**
 * Memory under hostile cardinality (issue 11): one million distinct tenant ids and one hundred thousand distinct
 * static URL paths (`/pages/<letters>`, which the endpoint normaliser cannot fold) through a running hello-world
 * server under tenantscope (every signal on, as in the throughput bench), pinned to one core, load generator on
 * the other. Reports RSS and heap (after a full collection: the server runs with `--expose-gc`) after a warm-up
 * with its own tenants and paths and one scrape, and after the million, and the `/metrics` body size at both
 * points. The warm-up runs in batches of BENCH_WARMUP (100,000) requests until two batches in a row leave V8's
 * young generation at the size it had (at most BENCH_WARMUP_BATCHES, 6): V8 grows it under load (64 → 128
 * MiB committed here) once enough has survived scavenges, which a fixed 100,000 requests sometimes reached and
 * sometimes did not, and that runtime growth is not what the target is about. The young generation's committed
 * size at both points, and the RSS growth outside it, are reported, so growth during the million still shows.
 *
 * The upstream register is run the same way for comparison (its `http.server.request.duration` has no tenant
 * and no path label, so it stays small; its spans are the same).
 *
 * `npx node build/bench/memory.bench.js` — BENCH_REQUESTS (1,000,000), BENCH_PATHS (100,000), BENCH_WARMUP
 * (100,000), BENCH_WARMUP_BATCHES (6), BENCH_CONTENDERS (`tenantscope,upstream`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { emit, type BenchRow } from './harness';
import { SERVER_CORE, canPin, contender, freePort, pin, startSink, type Contender } from './pinning';
import { load, scrapeSize } from './throughput.bench';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
const PATHS = Number(process.env.BENCH_PATHS ?? 100_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 100_000);
/** Warm-up batches (of BENCH_WARMUP requests) at most, while V8's young generation still grows. */
const MAX_WARMUP_BATCHES = Number(process.env.BENCH_WARMUP_BATCHES ?? 6);
const CONTENDERS = (process.env.BENCH_CONTENDERS ?? 'tenantscope,upstream').split(',') as Contender[];

interface Mem {
  rss: number;
  heapUsed: number;
  /** V8's committed heap, and of it the young generation (which V8 grows under a high allocation rate). */
  heapTotal: number;
  youngCommitted: number;
  maxRssKiB: number;
}

async function run(who: Contender, sink: string): Promise<BenchRow[]> {
  const promPort = await freePort();
  const c = contender(who, { sink, promPort, ratio: 1 });
  const proc: ChildProcess = fork(join(__dirname, 'servers.js'), ['hello'], {
    execArgv: ['--expose-gc', ...(c.preload === undefined ? [] : ['--require', c.preload])],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...c.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  pin(proc.pid, SERVER_CORE);
  const replies: ((m: Record<string, unknown>) => void)[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    proc.on('message', (m: Record<string, unknown>) => {
      if (typeof m.port === 'number') resolve(m.port);
      else replies.shift()?.(m);
    });
    proc.once('exit', (code) => reject(new Error(`${who}: server exited with ${code}`)));
  });
  const ask = (msg: string): Promise<Mem> =>
    new Promise((r) => {
      replies.push((m) => r(m as unknown as Mem));
      proc.send(msg);
    });
  try {
    const base = { url: `http://127.0.0.1:${port}`, connections: 32, tenants: 1, distinctTenants: true, paths: PATHS, pathStyle: 'static' };
    // Warm up in batches until V8's young generation stops growing: V8 doubles it once the bytes surviving
    // scavenges since its last growth pass its size, which under this load happens once or twice in the first
    // few hundred thousand requests, earlier for a server that keeps more per request. A baseline read before
    // that counts the runtime's own growth as ours (64 → 128 MiB committed, +64 MiB of RSS, in round six).
    let warm = await load({ ...base, amount: WARMUP });
    let warmed = warm.total;
    let before = await ask('mem');
    for (let i = 1, still = 0; i < MAX_WARMUP_BATCHES && still < 2; i++) {
      warm = await load({ ...base, amount: WARMUP, offset: warm.next });
      warmed += warm.total;
      const now = await ask('mem');
      still = now.youngCommitted === before.youngCommitted ? still + 1 : 0;
      before = now;
    }
    // Scrape first, so the memory a scrape itself takes is in both readings.
    const sizeBefore = await scrapeSize(promPort);
    before = await ask('mem');
    const t0 = Date.now();
    const r = await load({ ...base, amount: REQUESTS, offset: warm.next });
    const seconds = (Date.now() - t0) / 1000;
    const after = await ask('mem');
    const sizeAfter = await scrapeSize(promPort);
    if (r.errors > 0 || r.non2xx > 0) throw new Error(`${who}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
    const mib = (b: number): number => b / 1048576;
    return [
      {
        bench: 'memory',
        case: `${who}: RSS after warm-up`,
        value: mib(before.rss),
        unit: 'MiB',
        note: `${warmed.toLocaleString('en-US')} warm-up requests; young generation ${mib(before.youngCommitted).toFixed(0)} MiB committed`,
      },
      {
        bench: 'memory',
        case: `${who}: RSS after ${REQUESTS.toLocaleString('en-US')} requests`,
        value: mib(after.rss),
        unit: 'MiB',
        note: `growth ${(mib(after.rss) - mib(before.rss)).toFixed(1)} MiB (${((after.rss - before.rss) / 1e6).toFixed(1)} MB); peak ${(after.maxRssKiB / 1024).toFixed(0)} MiB; ${Math.round(r.total / seconds)} req/s`,
      },
      { bench: 'memory', case: `${who}: heap used after GC, growth`, value: mib(after.heapUsed - before.heapUsed), unit: 'MiB', note: `${mib(before.heapUsed).toFixed(1)} → ${mib(after.heapUsed).toFixed(1)} MiB` },
      {
        // V8 sizes its young generation (scratch space for new objects, up to twice its largest semi-space) by the
        // allocation rate it sees, not by what is kept: it can double in the middle of a run or before it.
        bench: 'memory',
        case: `${who}: RSS growth outside V8's young generation`,
        value: (after.rss - before.rss - (after.youngCommitted - before.youngCommitted)) / 1e6,
        unit: 'MB',
      },
      {
        bench: 'memory',
        case: `${who}: V8 committed heap after GC, growth`,
        value: mib(after.heapTotal - before.heapTotal),
        unit: 'MiB',
        note: `${mib(before.heapTotal).toFixed(1)} → ${mib(after.heapTotal).toFixed(1)} MiB, of which the young generation ${mib(before.youngCommitted).toFixed(1)} → ${mib(after.youngCommitted).toFixed(1)} MiB`,
      },
      { bench: 'memory', case: `${who}: /metrics size after warm-up`, value: sizeBefore / 1024, unit: 'KiB' },
      { bench: 'memory', case: `${who}: /metrics size after`, value: sizeAfter / 1024, unit: 'KiB', ratio: sizeBefore > 0 ? sizeAfter / sizeBefore : undefined, ratioTo: 'vs after warm-up' },
    ];
  } finally {
    proc.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const sink = await startSink();
  const rows: BenchRow[] = [];
  try {
    for (const who of CONTENDERS) rows.push(...(await run(who, sink.url)));
  } finally {
    sink.server.close();
  }
  emit({
    title: `Memory: ${REQUESTS.toLocaleString('en-US')} distinct tenant ids and ${PATHS.toLocaleString('en-US')} distinct paths through a hello-world server`,
    rows,
    notes: [
      'Target (issue 11): RSS growth ≤ 50 MB and /metrics size bounded (tenants past TENANTSCOPE_MAX_TENANTS fold into `overflow`, endpoints past TENANTSCOPE_MAX_ENDPOINTS into `overflow`).',
      `Each request has its own tenant id (t-<n>) and one of ${PATHS.toLocaleString('en-US')} static paths; RSS and heap read after a full GC in the server; ${canPin ? 'server and load generator pinned to their own cores' : 'not pinned'}.`,
    ],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
