import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR_KEPT_BY } from './semconv';

/**
 * Marks an unsampled span that will be exported because a keep rule kept its local trace (`tenantscope.kept_by`,
 * the rule's name). `LocalTraceSpanProcessor` marks it before the metric processors see the span, so they know
 * which spans are exported ({@link isExported}) without knowing the export step. The span has ended: its attributes
 * object is written directly.
 */
export function markKept(span: ReadableSpan, reason: string): void {
  (span.attributes as Record<string, unknown>)[ATTR_KEPT_BY] = reason;
}

/**
 * True when the span goes to the trace exporters, provided trace export is on at all (the caller knows that at
 * construction): the sampler sampled it, or a keep rule kept its trace ({@link markKept}). No allocation.
 */
export function isExported(span: ReadableSpan): boolean {
  return (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0 || span.attributes[ATTR_KEPT_BY] !== undefined;
}
