import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { PriceTable } from '../../src/pricing/PriceTable';

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
   * Host patterns of internal model gateways: requests to them in OpenAI or Anthropic format are model calls
   * even without an official SDK, and they never receive tenant baggage.
   */
  modelHosts?: readonly string[];
  /** Record prompts and completions (`gen_ai.input.messages` / `gen_ai.output.messages`); off by default. */
  captureMessageContent?: boolean;
}
