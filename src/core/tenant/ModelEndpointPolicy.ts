import { createContextKey, type Context } from '@opentelemetry/api';
import { ATTR_GEN_AI_PROVIDER_NAME, ATTR_GEN_AI_SYSTEM, ATTR_SERVER_PORT } from '../semconv';
import { HostPolicy } from './HostPolicy';

/** Context key set while a model API request is in flight: nothing sent under it may carry tenant baggage. */
export const MODEL_CALL_CONTEXT_KEY = createContextKey('tenantscope.modelCall');

/** Provider API hosts that never receive tenant baggage, whatever the operator's baggage policy says. */
export const PROVIDER_HOSTS = ['api.openai.com', 'api.anthropic.com', '*.openai.azure.com', '*.googleapis.com'];

/**
 * OpenAI-compatible gateways and inference providers, by API host, with the provider name their calls are
 * counted and priced under (the `@pydantic/genai-prices` provider id, so the source prices them).
 */
export const GATEWAY_HOSTS: Readonly<Record<string, string>> = {
  'openrouter.ai': 'openrouter',
  'api.groq.com': 'groq',
  'api.deepseek.com': 'deepseek',
  'api.together.xyz': 'together',
  'api.together.ai': 'together',
  'api.mistral.ai': 'mistral',
  'api.x.ai': 'x-ai',
  'api.fireworks.ai': 'fireworks',
  'api.cerebras.ai': 'cerebras',
  'api.perplexity.ai': 'perplexity',
  'api.moonshot.ai': 'moonshotai',
  'api.novita.ai': 'novita',
};

/** `provider=pattern` in `TENANTSCOPE_MODEL_HOSTS`: a provider name, then a host pattern. */
const NAMED = /^([a-z][a-z0-9._-]{0,31})=(.+)$/;
const MEMO_LIMIT = 2000;

interface NamedPattern {
  readonly provider: string;
  readonly exact: string | undefined;
  readonly suffix: string | undefined;
}

/**
 * Which outbound requests are model calls, and whose: provider hosts, the built-in gateways
 * ({@link GATEWAY_HOSTS}) and the operator's `TENANTSCOPE_MODEL_HOSTS` (`host`, `host:port`, `*.suffix`, or
 * `provider=pattern` to name the provider, e.g. `ollama=localhost:11434`). Built once where the pipeline is
 * built (src/sdk.ts) and handed to the GenAI instrumentation (which treats requests to these hosts as model
 * calls and names their provider) and to the propagator (which never sends them tenant baggage).
 */
export class ModelEndpointPolicy {
  private readonly _hosts: HostPolicy;
  private readonly _listedHosts: HostPolicy;
  private readonly _named: NamedPattern[] = [];
  private readonly _providerMemo = new Map<string, string | null>();
  /** The operator's listed model gateways as host patterns (provider names removed, built-in hosts not included). */
  readonly listed: readonly string[];

  constructor(modelHosts: readonly string[] = []) {
    const listed: string[] = [];
    for (const entry of modelHosts) {
      const m = NAMED.exec(entry);
      const pattern = m === null ? entry : m[2];
      // `private` and `*` would make every internal service a model endpoint: not a model host pattern.
      if (pattern === 'private' || pattern === '*' || pattern === '') continue;
      listed.push(pattern);
      if (m !== null) {
        const suffix = pattern.startsWith('*.') ? pattern.slice(1) : undefined;
        this._named.push({ provider: m[1], exact: suffix === undefined ? pattern : undefined, suffix });
      }
    }
    this.listed = listed;
    this._listedHosts = new HostPolicy(listed);
    this._hosts = new HostPolicy([...PROVIDER_HOSTS, ...Object.keys(GATEWAY_HOSTS), ...listed]);
  }

  /** True when `host` is a model endpoint (provider host, built-in gateway, or a listed host). */
  isModelHost(host: unknown): boolean {
    return this._hosts.isInternal(host);
  }

  /** True when the operator listed `host` (`host:port`) or `hostname` in `TENANTSCOPE_MODEL_HOSTS`. */
  isListed(host: string, hostname: string): boolean {
    return this._listedHosts.isInternal(host) || this._listedHosts.isInternal(hostname);
  }

  /**
   * The provider name for requests to `host` (`host:port`) / `hostname`: the operator's `provider=pattern`
   * entries first, then the built-in gateways; undefined when neither names one (the API dialect decides).
   */
  providerOf(host: string, hostname: string): string | undefined {
    let r = this._providerMemo.get(host);
    if (r === undefined) {
      r = this._named.length > 0 ? (this._namedProvider(host.toLowerCase(), hostname.toLowerCase()) ?? null) : null;
      r ??= GATEWAY_HOSTS[hostname.toLowerCase()] ?? null;
      if (this._providerMemo.size >= MEMO_LIMIT) this._providerMemo.clear();
      this._providerMemo.set(host, r);
    }
    return r ?? undefined;
  }

  private _namedProvider(host: string, hostname: string): string | undefined {
    for (const n of this._named) {
      if (n.exact !== undefined ? n.exact === host || n.exact === hostname : hostname.endsWith(n.suffix as string)) return n.provider;
    }
    return undefined;
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
