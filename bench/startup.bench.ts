/**
 * Start-up (issue 11): `node empty.js` against `node -r tenantscope/register empty.js` and
 * `node -r @opentelemetry/auto-instrumentations-node/register empty.js`, each with the environment of the
 * throughput bench (OTLP traces and logs, Prometheus metrics on: bench/pinning.ts `contender`). The empty script
 * (bench/servers.ts `empty`) reports on exit its peak RSS, its CPU time and its life (`performance.now()`, from
 * process start to exit, shutdown hooks included); the bench also times each spawn to its end (wall).
 * Runs pinned to one core, interleaved, median of BENCH_ROUNDS (20).
 *
 * CPU time is the headline: on the shared machine wall time includes waiting for the core.
 * `npx node build/bench/startup.bench.js` — BENCH_ROUNDS, BENCH_SERVER_ENV (extra `K=V,K=V` for tenantscope),
 * BENCH_VARIANTS (more tenantscope rows, e.g. `before:root=/tmp/before`: bench/pinning.ts `variantsFromEnv`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { emit, median, type BenchRow } from './harness';
import { SERVER_CORE, canPin, contender, pin, startSink, variantsFromEnv, type Contender, type Variant } from './pinning';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

interface Sample {
  wallMs: number;
  cpuMs: number;
  lifeMs: number;
  maxRssMiB: number;
}

function once(who: Contender, sink: string, extraEnv: Record<string, string>, variant?: Variant): Promise<Sample> {
  const c = contender(who, { sink, promPort: 0, ratio: 1, root: variant?.root });
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [...(c.preload === undefined ? [] : ['--require', c.preload]), join(__dirname, 'servers.js'), 'empty'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...c.env, ...(who === 'tenantscope' ? { ...extraEnv, ...variant?.env } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pin(child.pid, SERVER_CORE);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`${who}: exit ${code}, output ${out}`));
        return;
      }
      const r = JSON.parse(line) as { maxRssKiB: number; cpuMs: number; lifeMs: number };
      resolve({ wallMs, cpuMs: r.cpuMs, lifeMs: r.lifeMs, maxRssMiB: r.maxRssKiB / 1024 });
    });
  });
}

async function main(): Promise<void> {
  const sink = await startSink();
  const extra = Object.fromEntries(
    (process.env.BENCH_SERVER_ENV ?? '')
      .split(',')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
  );
  const rowsOf: { label: string; who: Contender; variant?: Variant }[] = [
    { label: 'plain', who: 'plain' },
    { label: 'upstream', who: 'upstream' },
    { label: 'tenantscope', who: 'tenantscope' },
    ...variantsFromEnv().map((v) => ({ label: `tenantscope ${v.label}`, who: 'tenantscope' as const, variant: v })),
  ];
  const samples = new Map<string, Sample[]>(rowsOf.map((r) => [r.label, []]));
  try {
    // One warm-up pass (file-system cache), not counted.
    for (const r of rowsOf) await once(r.who, sink.url, extra, r.variant);
    for (let i = 0; i < ROUNDS; i++) for (const r of rowsOf) samples.get(r.label)!.push(await once(r.who, sink.url, extra, r.variant));
  } finally {
    sink.server.close();
  }
  const med = (w: string, f: (s: Sample) => number): number => median(samples.get(w)!.map(f));
  const rows: BenchRow[] = [];
  const metrics: [string, string, (s: Sample) => number][] = [
    ['CPU time', 'ms', (s) => s.cpuMs],
    ['wall time (spawn to exit)', 'ms', (s) => s.wallMs],
    ['peak RSS', 'MiB', (s) => s.maxRssMiB],
  ];
  for (const [label, unit, f] of metrics) {
    const plain = med('plain', f);
    for (const { label: w } of rowsOf) {
      const v = med(w, f);
      rows.push({
        bench: 'startup',
        case: `${w}: ${label}`,
        value: v,
        unit,
        ratio: w === 'plain' ? undefined : v / plain,
        ratioTo: w === 'plain' ? undefined : 'vs plain',
        note: w === 'plain' ? undefined : `+${(v - plain).toFixed(1)} ${unit} over plain`,
      });
    }
  }
  const added = (f: (s: Sample) => number): number => med('tenantscope', f) - med('plain', f);
  emit({
    title: 'Start-up: node [-r preload] empty.js (CPU time, wall time, peak RSS)',
    rows,
    notes: [
      `Target (issue 11): tenantscope adds ≤ 100 ms and ≤ 25 MiB to a plain start. Added here: ${added((s) => s.cpuMs).toFixed(0)} ms CPU, ` +
        `${added((s) => s.wallMs).toFixed(0)} ms wall, ${added((s) => s.maxRssMiB).toFixed(1)} MiB peak RSS.`,
      `Median of ${ROUNDS} interleaved rounds after one warm-up round; ${canPin ? `pinned to CPU ${SERVER_CORE}` : 'not pinned'}; OTLP traces and logs, Prometheus metrics on (port 0).`,
    ],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
