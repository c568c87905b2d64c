import type { PriceTable } from '../../src/core/pricing/PriceTable';
import type { HostPolicy } from '../../src/core/tenant/HostPolicy';
import type { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';

export type AnyFunction = (...args: unknown[]) => unknown;

/** The instrumentation's options, resolved once. */
export interface Settings {
  prices: PriceTable;
  /** Model hosts and the providers they are named for. */
  endpoints: ModelEndpointPolicy;
  /** OpenAI-compatible hosts whose streams are asked for usage (their calls are model calls too). */
  usageHosts: HostPolicy;
  capture: boolean;
  /** A response body left unread this long ends its span without usage. */
  bodyTimeoutMs: number;
}
