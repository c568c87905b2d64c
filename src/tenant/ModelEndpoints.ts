import { createContextKey, type Context } from '@opentelemetry/api';
import { HostPolicy } from './HostPolicy';

/** Context key set while a model API request is in flight: nothing sent under it may carry tenant baggage. */
export const MODEL_CALL_CONTEXT_KEY = createContextKey('tenantscope.modelCall');

/** Provider API hosts that never receive tenant baggage, whatever the operator's baggage policy says. */
export const PROVIDER_HOSTS = ['api.openai.com', 'api.anthropic.com', '*.openai.azure.com'];

let modelHosts = new HostPolicy(PROVIDER_HOSTS);

/** Installs the model endpoints: provider hosts plus the operator's `TENANTSCOPE_MODEL_HOSTS` (called once at start). */
export function setModelHosts(patterns: readonly string[]): void {
  modelHosts = new HostPolicy([...PROVIDER_HOSTS, ...patterns.filter((p) => p !== 'private' && p !== '*')]);
}

/** True when `host` is a model endpoint (provider host or a listed internal gateway). */
export function isModelHost(host: unknown): boolean {
  return modelHosts.isInternal(host);
}

/**
 * True when a request injected in `ctx` goes to a model: it is made inside a model call (our context key),
 * or the span it continues is a GenAI client span (an SDK's own tracing, e.g. `anthropic.messages.create`,
 * injects with its call span before the request reaches fetch), or its host is a model endpoint.
 */
export function isModelRequest(ctx: Context, spanAttributes: Record<string, unknown> | undefined, host: unknown): boolean {
  if (ctx.getValue(MODEL_CALL_CONTEXT_KEY) !== undefined) return true;
  if (spanAttributes !== undefined && (spanAttributes['gen_ai.provider.name'] !== undefined || spanAttributes['gen_ai.system'] !== undefined)) {
    return true;
  }
  return isModelHost(host);
}
