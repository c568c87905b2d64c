/**
 * Instructions per request (issue 11): the hello-world server of the throughput bench run under valgrind's
 * callgrind, which counts the instructions the server process executes (every thread), so the number does not
 * depend on what else the shared machine is doing. The throughput bench's req/s and CPU time per request moved by
 * 2–10× between rounds while other people's builds ran; this is the repeatable cross-check of the same servers.
 *
 * Per case: start `valgrind --tool=callgrind node [--require preload] servers.js hello`, send BENCH_WARMUP requests
 * (the JIT tiers up), zero the counters (`callgrind_control -z`), send BENCH_REQUESTS requests, dump
 * (`callgrind_control -d`) and read the summary. Cases as in the throughput bench, plus BENCH_VARIANTS.
 * Slow (a case takes minutes: valgrind runs node about 50× slower); skipped where valgrind is missing.
 *
 * Counts still move between two processes of the same code (when the JIT compiles, when GC runs, how many batch
 * exports fall in the window: up to ±15 % in one run against another), so BENCH_ROUNDS runs every case that many
 * times, rounds interleaved, and reports the median with the spread.
 *
 * `npx node build/bench/instructions.bench.js` — BENCH_WARMUP (3000), BENCH_REQUESTS (2000), BENCH_CASES,
 * BENCH_ROUNDS (1).
 * `npx node build/bench/instructions.bench.js` — BENCH_WARMUP (3000), BENCH_REQUESTS (2000), BENCH_CASES, BENCH_ENV
 * (`K=V,K=V` for every instrumented server, upstream's too).
 *
 * Work on timers is counted per wall-clock second, and valgrind's slowdown depends on the machine's load: with the
 * default 5 s span batch delay the number of batch exports in the window (and so the count per request) moves
 * with the load. `BENCH_ENV=OTEL_BSP_SCHEDULE_DELAY=600000` exports only full batches: one source of that fewer (on
 * the loaded machine of docs/benchmarks.md the counts still moved 2.5×; bench/spanpath.bench.ts has no timers).
 */
import { join } from 'node:path';
import { hasValgrind, helloInstructionsPerRequest } from './callgrind';
import { emit, median, type BenchRow } from './harness';
import { contender, freePort, startSink, variantsFromEnv, type Contender } from './pinning';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
/** BENCH_ENV: `K=V,K=V` added to every instrumented server's environment. */
const ALL_ENV: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_ENV ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
);

interface Case {
  name: string;
  who: Contender;
  ratio: number;
  env?: Record<string, string>;
  root?: string;
}

function cases(): Case[] {
  const list: Case[] = [
    { name: 'plain', who: 'plain', ratio: 1 },
    { name: 'upstream 100%', who: 'upstream', ratio: 1 },
    { name: 'tenantscope 100%', who: 'tenantscope', ratio: 1 },
    { name: 'upstream 10%', who: 'upstream', ratio: 0.1 },
    { name: 'tenantscope 10%', who: 'tenantscope', ratio: 0.1 },
  ];
  for (const v of variantsFromEnv()) {
    list.push({ name: `tenantscope 100% ${v.label}`, who: 'tenantscope', ratio: 1, env: v.env, root: v.root });
    list.push({ name: `tenantscope 10% ${v.label}`, who: 'tenantscope', ratio: 0.1, env: v.env, root: v.root });
  }
  const only = process.env.BENCH_CASES?.split(',');
  return list.filter((c) => c.who === 'plain' || only === undefined || only.some((p) => c.name.startsWith(p)));
}

async function measure(c: Case, sink: string): Promise<number> {
  const promPort = await freePort();
  const who = contender(c.who, { sink, promPort, ratio: c.ratio, root: c.root });
  return helloInstructionsPerRequest(
    c.name,
    [...(who.preload === undefined ? [] : ['--require', who.preload]), join(__dirname, 'servers.js'), 'hello'],
    { PATH: process.env.PATH, HOME: process.env.HOME, ...who.env, ...(c.who === 'plain' ? {} : ALL_ENV), ...c.env },
    WARMUP,
    REQUESTS
  );
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  if (!hasValgrind()) {
    emit({ title: 'Instructions per request (callgrind)', rows, notes: ['valgrind is not installed: skipped (apt-get install valgrind).'] });
    return;
  }
  const sink = await startSink();
  const all = new Map<string, number[]>();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of cases()) {
        const v = await measure(c, sink.url);
        all.set(c.name, [...(all.get(c.name) ?? []), v]);
        if (!process.argv.includes('--json')) process.stderr.write(`round ${round} ${c.name}: ${Math.round(v)} instructions/request\n`);
      }
    }
  } finally {
    sink.server.close();
  }
  const per = new Map([...all].map(([name, vs]) => [name, median(vs)]));
  for (const c of cases()) {
    const pct = c.ratio >= 1 ? '100%' : '10%';
    const base = c.who === 'tenantscope' ? `upstream ${pct}` : 'plain';
    const v = per.get(c.name)!;
    const b = c.who === 'plain' ? undefined : per.get(base) ?? per.get('plain');
    const to = per.has(base) ? base : 'plain';
    rows.push({
      bench: 'instructions',
      case: c.name,
      value: v / 1000,
      unit: 'k instr/req',
      ratio: b === undefined ? undefined : b / v,
      ratioTo: b === undefined ? undefined : `capacity vs ${to} (its instructions / ours)`,
      note: ROUNDS > 1 ? `rounds ${all.get(c.name)!.map((x) => Math.round(x / 1000)).join(', ')} k` : undefined,
    });
  }
  emit({
    title: 'Instructions per request, hello-world server under callgrind (repeatable on a shared machine)',
    rows,
    notes: [
      `${REQUESTS} requests counted after ${WARMUP} warm-up requests, 4 connections; every thread of the server process counted (JIT and GC threads too); median of ${ROUNDS} interleaved round(s).`,
      'Targets (issue 11) read as capacity: tenantscope ≥ 1.25× upstream at 100% export, ≥ 1.0× at 10%. Instructions are not cycles (cache misses are not counted); the throughput bench is the direct measure when the machine is quiet.',
    ],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
