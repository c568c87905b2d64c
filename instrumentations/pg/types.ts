import type { PgInstrumentationConfig } from '@opentelemetry/instrumentation-pg';

/** Options of {@link LeanPgInstrumentation}: upstream instrumentation-pg's, and whether its histogram is wanted. */
export interface LeanPgInstrumentationOptions extends PgInstrumentationConfig {
  /**
   * True (TENANTSCOPE_UPSTREAM_METRICS) when upstream's `db.client.operation.duration` is recorded: upstream's
   * patches then run, as they record it. Default false.
   */
  recordDuration?: boolean;
}
