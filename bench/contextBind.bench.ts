/**
 * `context.bind` of a callback and one call of it, as instrumentation-pg does twice per query: context-async-hooks'
 * `AsyncLocalStorageContextManager` against `LeanContextManager` (src/core/LeanContextManager.ts), in one process,
 * interleaved rounds, median ns per bind + call. Each bind is to one of 64 contexts, so every call enters a context
 * that is not the active one.
 *
 * `npx node build/bench/contextBind.bench.js` — BENCH_ROUNDS (15), BENCH_ITERATIONS (200000 per round and case).
 */
import { ROOT_CONTEXT, createContextKey, type Context, type ContextManager } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { LeanContextManager } from '../src/core/LeanContextManager';
import { emit, gc, median, type BenchRow } from './harness';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const N = Number(process.env.BENCH_ITERATIONS ?? 200_000);

const KEY = createContextKey('bench');
const contexts: Context[] = Array.from({ length: 64 }, (_, i) => ROOT_CONTEXT.setValue(KEY, i));
let sink = 0;
/** A pg-style callback (err, result) and a one-argument one. */
const targets: Record<string, (...a: never[]) => void> = {
  '(err, res)': (err: unknown, res: number) => void (sink += err === null ? res : 0),
  '(value)': (value: number) => void (sink += value),
};

function round(manager: ContextManager, target: (...a: never[]) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const bound = manager.bind(contexts[i & 63], target) as (...a: unknown[]) => void;
    bound(null, i);
  }
  return Number(process.hrtime.bigint() - t0) / N;
}

function main(): void {
  const managers: [string, ContextManager][] = [
    ['upstream', new AsyncLocalStorageContextManager().enable()],
    ['lean', new LeanContextManager().enable()],
  ];
  const rows: BenchRow[] = [];
  for (const [shape, target] of Object.entries(targets)) {
    const samples = new Map(managers.map(([name]) => [name, [] as number[]]));
    for (const [, m] of managers) round(m, target); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, m] of managers) {
        gc();
        samples.get(name)!.push(round(m, target));
      }
    }
    const base = median(samples.get('upstream')!);
    for (const [name] of managers) {
      const v = median(samples.get(name)!);
      rows.push({
        bench: 'contextBind',
        case: `${name}: bind ${shape} + one call`,
        value: v,
        unit: 'ns',
        ...(name === 'upstream' ? {} : { ratio: v / base, ratioTo: 'vs upstream' }),
      });
    }
  }
  emit({
    title: 'context.bind + one call of the bound function (ns, median of interleaved rounds)',
    rows,
    notes: [`${ROUNDS} rounds of ${N} binds per case; checksum ${sink}`],
  });
}

main();
