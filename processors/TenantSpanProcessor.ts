import type { Context } from '@opentelemetry/api';
import type { Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { describeError, warnOnce } from '../src/core/log';
import { markInsideModelCall } from '../src/core/ModelCall';
import { ATTR_TENANT_ID } from '../src/core/semconv';
import { MODEL_CALL_CONTEXT_KEY } from '../src/core/tenant/ModelEndpointPolicy';
import { getTenantCell, linkTenantCell, tenantCellOf } from '../src/core/tenant/TenantCell';

/**
 * Links each span to its request's tenant and stamps `tenant.id` when the span ends, so a tenant the app sets
 * after auth lands on every span that ends afterwards: the server span, children, callbacks and promises. Also
 * marks spans started inside a model call, so their HTTP requests are never counted as integrations.
 */
export class TenantSpanProcessor implements SpanProcessor {
  onStart(span: Span, parentContext: Context): void {
    try {
      const cell = getTenantCell(parentContext);
      if (cell !== undefined) linkTenantCell(span, cell);
      if (parentContext.getValue(MODEL_CALL_CONTEXT_KEY) !== undefined) markInsideModelCall(span);
    } catch (err) {
      warnOnce('tenant-onStart', `a span was not linked to its tenant: ${describeError(err)}`);
    }
  }

  onEnding(span: Span): void {
    try {
      const cell = tenantCellOf(span);
      if (cell !== undefined) span.setAttribute(ATTR_TENANT_ID, cell.id);
    } catch (err) {
      warnOnce('tenant-onEnding', `a span was not stamped with its tenant: ${describeError(err)}`);
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
