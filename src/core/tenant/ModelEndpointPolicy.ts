import { createContextKey, type Context } from '@opentelemetry/api';
import { ATTR_GEN_AI_PROVIDER_NAME, ATTR_GEN_AI_SYSTEM, ATTR_SERVER_PORT } from '../semconv';
import { HostPolicy } from './HostPolicy';

/** Context key set while a model API request is in flight: nothing sent under it may carry tenant baggage. */
export const MODEL_CALL_CONTEXT_KEY = createContextKey('tenantscope.modelCall');

/** Provider API hosts that never receive tenant baggage, whatever the operator's baggage policy says. */
export const PROVIDER_HOSTS = ['api.openai.com', 'api.anthropic.com', '*.openai.azure.com'];

/**
 * Which outbound requests are model calls: provider hosts plus the operator's `TENANTSCOPE_MODEL_HOSTS`.
 * Built once where the pipeline is built (src/sdk.ts) and handed to the GenAI instrumentation (which treats
 * requests to these hosts as model calls) and to the propagator (which never sends them tenant baggage).
 */
export class ModelEndpointPolicy {
  private readonly _hosts: HostPolicy;
  /** The operator's listed model gateways (without the built-in provider hosts). */
  readonly listed: readonly string[];

  constructor(modelHosts: readonly string[] = []) {
    // `private` and `*` would make every internal service a model endpoint: not a model host pattern.
    this.listed = modelHosts.filter((p) => p !== 'private' && p !== '*');
    this._hosts = new HostPolicy([...PROVIDER_HOSTS, ...this.listed]);
  }

  /** True when `host` is a model endpoint (provider host or a listed internal gateway). */
  isModelHost(host: unknown): boolean {
    return this._hosts.isInternal(host);
  }

  /**
   * True when a request injected in `ctx` goes to a model: it is made inside a model call (our context key),
   * or the span it continues is a GenAI client span (an SDK's own tracing, e.g. `anthropic.messages.create`,
   * injects with its call span before the request reaches fetch), or its host is a model endpoint: `host`, or
   * `host:port` with the span's `server.port` (a gateway listed with its port is still one when the GenAI
   * instrumentation did not mark the request, e.g. after a failure of its own).
   */
  isModelRequest(ctx: Context, spanAttributes: Record<string, unknown> | undefined, host: unknown): boolean {
    if (ctx.getValue(MODEL_CALL_CONTEXT_KEY) !== undefined) return true;
    if (spanAttributes === undefined) return this.isModelHost(host);
    if (spanAttributes[ATTR_GEN_AI_PROVIDER_NAME] !== undefined || spanAttributes[ATTR_GEN_AI_SYSTEM] !== undefined) return true;
    if (this.isModelHost(host)) return true;
    const port = spanAttributes[ATTR_SERVER_PORT];
    if (typeof host !== 'string' || (typeof port !== 'number' && typeof port !== 'string')) return false;
    return this.isModelHost(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  }
}
