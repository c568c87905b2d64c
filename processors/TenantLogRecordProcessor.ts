import type { Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { describeError, warnOnce } from '../src/core/log';
import { ATTR_TENANT_ID } from '../src/core/semconv';
import { getTenantCell } from '../src/core/tenant/TenantCell';

/**
 * Stamps `tenant.id` on each log record emitted inside a request: the request's tenant as spans carry it
 * (validated, hashed when configured), as known when the record is written — the same value the record's
 * `tenant_id` field shows on stdout. Records written outside any request get no tenant, like spans.
 * Goes first in the logger provider's processors, so the export processors see the attribute.
 */
export class TenantLogRecordProcessor implements LogRecordProcessor {
  onEmit(logRecord: ReadWriteLogRecord, context?: Context): void {
    try {
      if (context === undefined) return;
      const cell = getTenantCell(context);
      if (cell !== undefined) logRecord.setAttribute(ATTR_TENANT_ID, cell.id);
    } catch (err) {
      warnOnce('tenant-log-onEmit', `a log record was not stamped with its tenant: ${describeError(err)}`);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
