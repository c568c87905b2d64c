import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { PriceTable } from '../../src/core/pricing/PriceTable';
import type { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';

/** Options of {@link GenAIInstrumentation}. */
export interface GenAIInstrumentationOptions extends InstrumentationConfig {
  /** Price table used to cost each call; defaults to the shipped table. */
  prices?: PriceTable;
  /**
   * Host patterns (`host`, `host:port`, `*.suffix`) of OpenAI-compatible servers that accept
   * `stream_options`: their streamed chat completions are asked for usage like api.openai.com's.
   */
  openaiUsageHosts?: readonly string[];
  /**
   * Model endpoints (provider hosts plus internal gateways): requests to a listed gateway in OpenAI or Anthropic
   * format are model calls even without an official SDK. The same policy keeps tenant baggage away from them
   * (the propagator holds it too). Defaults to the provider hosts only.
   */
  modelEndpoints?: ModelEndpointPolicy;
  /** Record prompts and completions (`gen_ai.input.messages` / `gen_ai.output.messages`); off by default. */
  captureMessageContent?: boolean;
  /**
   * A response body the app leaves unread, or stops reading, for this long ends its span without usage
   * (`tenantscope.model.usage_missing`); default 30,000 ms.
   */
  bodyTimeoutMs?: number;
}
