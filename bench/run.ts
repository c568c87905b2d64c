/**
 * `npm run bench`: runs every `build/bench/*.bench.js` in its own child process (`--expose-gc`, so rounds start
 * from a collected heap, and no JIT or heap state leaks from one bench into the next), collects each bench's
 * result line and prints one table per bench, plus the machine it ran on (what docs/benchmarks.md records).
 *
 * `BENCH_FILTER=scrape npm run bench` runs the benches whose file name contains the filter.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESULT_PREFIX, formatTable, type BenchResult } from './harness';

/** A bench that runs longer than this is stopped and reported as such (the throughput bench takes ~10 min). */
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 1_800_000);

interface Outcome {
  readonly file: string;
  readonly result?: BenchResult;
  readonly error?: string;
  readonly seconds: number;
}

/** Process group of the bench running now, stopped if `npm run bench` itself is interrupted. */
let running: number | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    try {
      if (running !== undefined) process.kill(-running, 'SIGKILL');
    } finally {
      process.exit(130);
    }
  });
}

function runOne(file: string): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so a timeout also stops what the bench forked (servers that would otherwise
    // outlive it, holding our pipes open).
    const child = spawn(process.execPath, ['--expose-gc', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    running = child.pid;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      const seconds = (Date.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (line !== undefined && code === 0) {
        resolve({ file, result: JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchResult, seconds });
      } else {
        const why = timedOut ? `stopped after ${TIMEOUT_MS / 1000} s (BENCH_TIMEOUT_MS)` : `exit ${code ?? signal}`;
        resolve({ file, error: `${why}\n${err.trim().split('\n').slice(-8).join('\n')}`, seconds });
      }
    });
  });
}

async function main(): Promise<void> {
  const filter = process.env.BENCH_FILTER ?? '';
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js') && f.includes(filter))
    .sort()
    .map((f) => join(__dirname, f));
  const cpu = cpus();
  process.stdout.write(
    `tenantscope benchmarks — Node ${process.version}, ${cpu.length} CPU(s) ${cpu[0]?.model ?? '?'}, ` +
      `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`
  );
  let failed = 0;
  for (const file of files) {
    const o = await runOne(file);
    const name = file.slice(__dirname.length + 1);
    if (o.result === undefined) {
      failed++;
      process.stdout.write(`\n## ${name}: FAILED (${o.seconds.toFixed(0)} s)\n${o.error ?? ''}\n`);
      continue;
    }
    process.stdout.write(`\n## ${o.result.title}\n(${name}, ${o.seconds.toFixed(0)} s)\n\n${formatTable(o.result.rows)}\n\n`);
    for (const n of o.result.notes) process.stdout.write(`- ${n}\n`);
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`${String(err?.stack ?? err)}\n`);
  process.exitCode = 1;
});
