import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { ATTR_TENANT_ID } from '../src/semconv';
import { getTenantCell, type TenantCell } from '../src/tenant/TenantContext';

/** Where a span keeps the tenant cell of the context it started in. */
const CELL = Symbol('tenantscope.tenantCell');

/** The tenant cell a span started under, if any. */
export function tenantCellOf(span: ReadableSpan): TenantCell | undefined {
  return (span as unknown as { [CELL]?: TenantCell })[CELL];
}

/**
 * Links each span to its request's tenant and stamps `tenant.id` when the span ends, so a tenant the app sets
 * after auth lands on every span that ends afterwards: the server span, children, callbacks and promises.
 */
export class TenantSpanProcessor implements SpanProcessor {
  onStart(span: Span, parentContext: Context): void {
    try {
      const cell = getTenantCell(parentContext);
      if (cell !== undefined) (span as unknown as { [CELL]?: TenantCell })[CELL] = cell;
    } catch {
      // never throw into span.start()
    }
  }

  onEnding(span: Span): void {
    try {
      const cell = (span as unknown as { [CELL]?: TenantCell })[CELL];
      if (cell !== undefined) span.setAttribute(ATTR_TENANT_ID, cell.id);
    } catch {
      // never throw into span.end()
    }
  }

  onEnd(): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
