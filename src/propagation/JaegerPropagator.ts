import {
  isSpanContextValid,
  propagation,
  trace,
  TraceFlags,
  type Baggage,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { BAGGAGE_TENANT_ID } from '../core/semconv';

/** The Jaeger client header: `{trace-id}:{span-id}:{parent-span-id}:{flags}`, hex. */
export const UBER_TRACE_ID = 'uber-trace-id';
/** Prefix of Jaeger baggage headers: `uberctx-{key}: {value}`. */
export const UBER_BAGGAGE_PREFIX = 'uberctx-';
/** Jaeger clients often spell the tenant key with a dash; it is read as `tenant.id`. */
const JAEGER_TENANT_KEYS = [BAGGAGE_TENANT_ID, 'tenant-id'];

const HEX = /^[0-9a-f]+$/;
const MAX_BAGGAGE_ENTRIES = 64;
const MAX_BAGGAGE_VALUE = 1024;

/**
 * The Jaeger client propagation format (`uber-trace-id`, `uberctx-*` baggage), for services still traced with
 * `jaeger-client`: selected with `OTEL_PROPAGATORS=…,jaeger`. Written here because
 * `@opentelemetry/propagator-jaeger` is still on the 2.x line and would pull a second `@opentelemetry/core`
 * (and an API peer range below ours) into the 3.x process. Wire format: jaegertracing's client docs
 * ("Propagation format"); trace ids of 64 bits are left-padded to 128, flags bit 1 is "sampled".
 */
export class JaegerPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (sc !== undefined && isSpanContextValid(sc)) {
      const flags = (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? '1' : '0';
      setter.set(carrier, UBER_TRACE_ID, `${sc.traceId}:${sc.spanId}:0:${flags}`);
    }
    const bag = propagation.getBaggage(ctx);
    if (bag === undefined) return;
    for (const [key, entry] of bag.getAllEntries()) {
      setter.set(carrier, UBER_BAGGAGE_PREFIX + key, encodeURIComponent(entry.value));
    }
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    let out = ctx;
    const raw = first(getter.get(carrier, UBER_TRACE_ID));
    const sc = raw === undefined ? undefined : parseUberTraceId(raw);
    if (sc !== undefined) out = trace.setSpanContext(out, { ...sc, isRemote: true });
    let bag: Baggage | undefined;
    let n = 0;
    for (const key of getter.keys(carrier)) {
      const k = key.toLowerCase();
      if (!k.startsWith(UBER_BAGGAGE_PREFIX) || n >= MAX_BAGGAGE_ENTRIES) continue;
      const value = first(getter.get(carrier, key));
      if (value === undefined || value.length > MAX_BAGGAGE_VALUE) continue;
      let name = k.slice(UBER_BAGGAGE_PREFIX.length);
      if (JAEGER_TENANT_KEYS.includes(name)) name = BAGGAGE_TENANT_ID;
      bag ??= propagation.getBaggage(out) ?? propagation.createBaggage();
      bag = bag.setEntry(name, { value: safeDecode(value) });
      n++;
    }
    return bag === undefined ? out : propagation.setBaggage(out, bag);
  }

  fields(): string[] {
    return [UBER_TRACE_ID];
  }
}

/** The span context an `uber-trace-id` value names, or undefined when it is malformed. */
export function parseUberTraceId(raw: string): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const parts = safeDecode(raw).split(':');
  if (parts.length !== 4) return undefined;
  const [t, s, , f] = parts;
  if (t.length === 0 || t.length > 32 || s.length === 0 || s.length > 16 || !HEX.test(t) || !HEX.test(s)) return undefined;
  const flags = Number.parseInt(f, 16);
  if (!Number.isInteger(flags) || flags < 0 || f.length > 2) return undefined;
  const traceId = t.padStart(32, '0');
  const spanId = s.padStart(16, '0');
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: (flags & 1) !== 0 ? TraceFlags.SAMPLED : TraceFlags.NONE };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
