import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { MetricStore } from '../../src/core/metrics/MetricStore';
import type { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

/** Options of {@link ConnectionsInstrumentation}, built in src/sdk.ts. */
export interface ConnectionsInstrumentationOptions extends InstrumentationConfig {
  /** Where `websocket_connections_active` lives. */
  store: MetricStore;
  /** The pipeline's registry: an upgrade's tenant is admitted to labels like every other. */
  tenants: TenantRegistry;
  /** `service` label value. */
  serviceName: string;
}
