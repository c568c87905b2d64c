import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** Options of {@link DbPoolsInstrumentation}. */
export interface DbPoolsInstrumentationOptions extends InstrumentationConfig {
  /** Distinct `database_name` values before later ones fold into `_OTHER` (default 32). */
  maxDatabases?: number;
}
