/**
 * The HTTP server instrumentation alone (issue 11, "patching vs. channels"): instructions per hello-world request
 * under callgrind with no instrumentation, with upstream instrumentation-http's server side (its wrapper around
 * `Server.prototype.emit`) and with tenantscope's on the `http.server.request.start` diagnostics channel
 * (instrumentations/httpserver/), each over the same minimal tracing setup (bench/httpServerPreload.ts: no span
 * processor, no exporter), so the difference is the instrumentation's own work and nothing of the export path's.
 *
 * `npx node build/bench/httpServer.bench.js` — BENCH_WARMUP (3000), BENCH_REQUESTS (3000), BENCH_VARIANTS
 * (`label:ENV=value,…;…`: more channel cases with that environment). A case takes a few minutes; skipped without
 * valgrind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emit, type BenchRow } from './harness';
import { variantsFromEnv } from './pinning';
import { load } from './throughput.bench';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);

interface Case {
  name: string;
  env: Record<string, string>;
}

function lastSummary(dir: string, pid: number): number {
  const dumps = readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.`))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const m = /^summary: (\d+)$/m.exec(readFileSync(dumps[0], 'utf8'));
  if (m === null) throw new Error(`no summary in ${dumps[0]}`);
  return Number(m[1]);
}

async function measure(c: Case): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantscope-httpserver-'));
  const proc = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.%p')}`, process.execPath, '--require', join(__dirname, 'httpServerPreload.js'), join(__dirname, 'servers.js'), 'hello'],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...c.env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }
  );
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${c.name}: no port within 10 min\n${err.slice(-2000)}`)), 600_000);
      proc.on('message', (m: { port?: number }) => {
        if (typeof m.port === 'number') {
          clearTimeout(t);
          resolve(m.port);
        }
      });
      proc.once('exit', (code) => reject(new Error(`${c.name}: exited ${code}\n${err.slice(-2000)}`)));
    });
    const base = { url: `http://127.0.0.1:${port}`, connections: 4, tenants: 1000, paths: 5000, pathStyle: 'id' };
    const warm = await load({ ...base, amount: WARMUP });
    spawnSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' });
    const r = await load({ ...base, amount: REQUESTS, offset: warm.next });
    spawnSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
    if (r.errors > 0 || r.non2xx > 0) throw new Error(`${c.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
    return lastSummary(dir, proc.pid!) / REQUESTS;
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status !== 0) {
    emit({ title: 'HTTP server instrumentation (callgrind)', rows, notes: ['valgrind is not installed: skipped.'] });
    return;
  }
  const cases: Case[] = [
    { name: 'none', env: { BENCH_HTTP_SERVER: 'none' } },
    { name: 'upstream', env: { BENCH_HTTP_SERVER: 'upstream' } },
    { name: 'channel', env: { BENCH_HTTP_SERVER: 'channel' } },
    ...variantsFromEnv().map((v) => ({ name: `channel ${v.label}`, env: { BENCH_HTTP_SERVER: 'channel', ...v.env } })),
  ];
  const per = new Map<string, number>();
  for (const c of cases) {
    const v = await measure(c);
    per.set(c.name, v);
    if (!process.argv.includes('--json')) process.stderr.write(`${c.name}: ${Math.round(v)} instructions/request\n`);
  }
  const none = per.get('none')!;
  const upstream = per.get('upstream')! - none;
  for (const c of cases) {
    const added = per.get(c.name)! - none;
    rows.push({
      bench: 'httpServer',
      case: c.name,
      value: per.get(c.name)! / 1000,
      unit: 'k instr/req',
      ratio: c.name === 'none' ? undefined : added / upstream,
      ratioTo: c.name === 'none' ? undefined : 'instructions added over none, / upstream’s',
    });
  }
  emit({
    title: 'HTTP server instrumentation alone, hello-world under callgrind',
    rows,
    notes: [`${REQUESTS} requests counted after ${WARMUP} warm-up requests, 4 keep-alive connections; no span processor or exporter.`],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
