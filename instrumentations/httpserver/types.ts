import type { Context } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { OwnServers } from '../../src/core/OwnServers';

/** Options of {@link HttpServerChannelInstrumentation}, built in src/sdk.ts. */
export interface HttpServerChannelInstrumentationOptions extends InstrumentationConfig {
  /**
   * Makes `ctx` the active context for the rest of the current synchronous execution and what it schedules
   * (`AsyncLocalStorage.enterWith`, through the context manager's `attach`). The request's handler runs after the
   * channel's subscribers return, in the same tick: this is how it runs inside the server span's context.
   */
  enter: (ctx: Context) => void;
  /** Our own servers (the /metrics endpoint): their requests get no span and run with tracing suppressed. */
  ownServers?: OwnServers;
  /**
   * Records `http.server.request.duration` as upstream instrumentation-http does (TENANTSCOPE_UPSTREAM_METRICS);
   * off by default, and then no clock is read for it.
   */
  recordDuration?: boolean;
}
