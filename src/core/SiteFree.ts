import type { HrTime, SpanContext, TraceState } from '@opentelemetry/api';

/*
 * The parts a span keeps until it is exported (its span context, start, end and duration), made without an object
 * or array literal.
 *
 * V8 gives every object and array literal an allocation site and watches, at each scavenge, how many of the site's
 * young objects are still alive. A site whose objects mostly survive (85 %) is *pretenured*: from then on its
 * objects are allocated straight in the old generation, and the decision is not taken back. A span's parts qualify
 * when spans wait in the export queue across a scavenge (`--trace-pretenuring` shows the tenure decisions in the
 * pg + redis bench). Pretenured, a dead span's span context keeps its young id strings alive through the
 * remembered set until the next full GC, so they are copied by one scavenge and promoted by the next: in the bench
 * about 900 bytes promoted and 4 µs of scavenges per request (`--trace-gc-nvp`; 200 bytes and 1.2 µs with
 * `--no-allocation-site-pretenuring`, docs/benchmarks.md).
 *
 * `new Array(n)` with stores and `{}` with stores have no allocation site that can be pretenured
 * (test/unit/SiteFree.test.ts shows both staying young where a literal's site is pretenured), and cost what a
 * literal costs (≈ 12 ns).
 */

/** An `HrTime` `[seconds, nanos]`, not from an array literal. */
export function hrTimeOf(seconds: number, nanos: number): HrTime {
  const t = new Array<number>(2);
  t[0] = seconds;
  t[1] = nanos;
  return t as HrTime;
}

/** `@opentelemetry/core`'s `millisToHrTime`, the same arithmetic, into {@link hrTimeOf}. */
export function millisToHrTimeOf(epochMillis: number): HrTime {
  return hrTimeOf(Math.trunc(epochMillis / 1e3), Math.round((epochMillis % 1e3) * 1e6));
}

/** A plain span context `{ traceId, spanId, traceFlags, traceState }`, not from an object literal. */
export function spanContextOf(traceId: string, spanId: string, traceFlags: number, traceState: TraceState | undefined): SpanContext {
  const sc = {} as SpanContext;
  sc.traceId = traceId;
  sc.spanId = spanId;
  sc.traceFlags = traceFlags;
  sc.traceState = traceState;
  return sc;
}
