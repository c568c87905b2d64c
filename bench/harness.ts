/**
 * Small helpers shared by the benchmarks: a seeded PRNG (so every run feeds the same data), medians, and the
 * result shape `bench/run.ts` collects from each bench's child process.
 */

import { MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';

/** One row of a bench table. `value` is in `unit`; `ratio` compares it with the row named in `ratioTo`. */
export interface BenchRow {
  readonly bench: string;
  readonly case: string;
  readonly value: number;
  readonly unit: string;
  readonly ratio?: number;
  readonly ratioTo?: string;
  readonly note?: string;
}

/** What a bench's child process prints as its last stdout line (prefixed by {@link RESULT_PREFIX}). */
export interface BenchResult {
  readonly title: string;
  readonly rows: BenchRow[];
  readonly notes: string[];
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

/** Mulberry32: a tiny deterministic PRNG, so the data pools are identical from run to run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A distribution-free confidence interval for the median of `xs` (order statistics: the k-th smallest and k-th
 * largest value, with k the largest for which P(Binomial(n, ½) < k) ≤ (1 − level) / 2), or undefined when there
 * are too few values for that level (fewer than 6 at 95 %). For per-round ratios on a noisy machine: whether a
 * target is met by the median or only by luck.
 */
export function medianInterval(xs: readonly number[], level = 0.95): [number, number] | undefined {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const tail = (1 - level) / 2;
  let k = 0;
  let below = 0; // P(Binomial(n, ½) ≤ k − 1)
  let term = Math.pow(0.5, n); // P(Binomial(n, ½) = k)
  while (k < n >> 1 && below + term <= tail) {
    below += term;
    term = (term * (n - k)) / (k + 1);
    k++;
  }
  return k === 0 ? undefined : [s[k - 1], s[n - k]];
}

/** Runs a collected GC when the process was started with `--expose-gc` (bench/run.ts does that). */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) g();
}

/** Prints a result for bench/run.ts, plus a readable table when run on its own. */
export function emit(result: BenchResult): void {
  if (process.argv.includes('--json')) {
    process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
    return;
  }
  process.stdout.write(`\n${result.title}\n`);
  process.stdout.write(formatTable(result.rows) + '\n');
  for (const n of result.notes) process.stdout.write(`- ${n}\n`);
}

/** Formats rows as a Markdown table (what docs/benchmarks.md shows). */
export function formatTable(rows: readonly BenchRow[]): string {
  const head = ['case', 'value', 'ratio', 'note'];
  const body = rows.map((r) => [
    r.case,
    `${formatValue(r.value)} ${r.unit}`,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.ratioTo ?? ''}`.trim(),
    r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

function formatValue(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Keeps every ended span (a bench's data set). */
export class CollectingProcessor implements SpanProcessor {
  readonly spans: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.spans.push(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** A reader that never exports: instruments record into the SDK's storage, nothing leaves the process. */
export class NoopReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
