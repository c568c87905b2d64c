import type { PriceTable } from '../../src/core/pricing/PriceTable';
import type { HostPolicy } from '../../src/core/tenant/HostPolicy';

export type AnyFunction = (...args: unknown[]) => unknown;

/** The instrumentation's options, resolved once. */
export interface Settings {
  prices: PriceTable;
  /** Hosts whose OpenAI/Anthropic-format requests are model calls without an official SDK. */
  listed: HostPolicy;
  /** OpenAI-compatible hosts whose streams are asked for usage. */
  usageHosts: HostPolicy;
  capture: boolean;
}
