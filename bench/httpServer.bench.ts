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
import { join } from 'node:path';
import { hasValgrind, helloInstructionsPerRequest } from './callgrind';
import { emit, type BenchRow } from './harness';
import { variantsFromEnv } from './pinning';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);

interface Case {
  name: string;
  env: Record<string, string>;
}

function measure(c: Case): Promise<number> {
  return helloInstructionsPerRequest(
    c.name,
    ['--require', join(__dirname, 'httpServerPreload.js'), join(__dirname, 'servers.js'), 'hello'],
    { PATH: process.env.PATH, HOME: process.env.HOME, ...c.env },
    WARMUP,
    REQUESTS
  );
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  if (!hasValgrind()) {
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
