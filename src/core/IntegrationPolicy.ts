import { INTEGRATION_TYPE_HTTP, VALUE_OTHER } from './semconv';
import type { HostPolicy } from './tenant/HostPolicy';
import type { ModelEndpointPolicy } from './tenant/ModelEndpointPolicy';

/** One `TENANTSCOPE_INTEGRATIONS` entry: an integration type and the host patterns that belong to it. */
export interface IntegrationRule {
  /** `crm`, `webhook`, …: the `integration_type` label. */
  readonly type: string;
  /** `host`, `host:port` or `*.suffix`, lower-case. */
  readonly hosts: readonly string[];
}

/** An integration as metrics label it; `index` is dense (0 is `_OTHER`, the fold of everything past the limit). */
export interface Integration {
  readonly id: string;
  readonly type: string;
  readonly index: number;
}

export interface IntegrationPolicyOptions {
  rules: readonly IntegrationRule[];
  /** Distinct integrations (listed or not) before later ones fold into `_OTHER`. */
  maxIntegrations: number;
  /** Internal hosts (`TENANTSCOPE_BAGGAGE_HOSTS`): calls to them are not integrations unless listed. */
  internal: HostPolicy;
  /** Model endpoints: calls to them are model calls, never integrations. */
  models: ModelEndpointPolicy;
}

/** Memo bound: hostile or generated host names cannot grow it past this. */
const MEMO_LIMIT = 2000;
const NONE = null;

/**
 * Decides which outbound HTTP calls are integrations and how they are labelled: a host listed in
 * `TENANTSCOPE_INTEGRATIONS` gets its type and, as id, the host (`host:port` for a port pattern, the suffix without
 * `*.` for a wildcard, so per-customer subdomains never become ids); any other host that is neither a model endpoint
 * nor internal gets `integration_id` = the host name and `integration_type` = `http`. Past the limit, `_OTHER`.
 */
export class IntegrationPolicy {
  private readonly _rules: readonly IntegrationRule[];
  private readonly _max: number;
  private readonly _internal: HostPolicy;
  private readonly _models: ModelEndpointPolicy;
  private readonly _hasPortRules: boolean;
  /** `host` or `host:port` → its integration, or null when calls to it are not integrations. */
  private readonly _memo = new Map<string, Integration | null>();
  /** id + type → integration, so one integration keeps one index. */
  private readonly _byId = new Map<string, Integration>();
  private readonly _other: Integration;
  private _count = 0;

  constructor(options: IntegrationPolicyOptions) {
    this._rules = options.rules;
    this._max = options.maxIntegrations;
    this._internal = options.internal;
    this._models = options.models;
    this._hasPortRules = options.rules.some((r) => r.hosts.some((h) => h.includes(':')));
    this._other = { id: VALUE_OTHER, type: VALUE_OTHER, index: 0 };
  }

  /** Integrations created so far, `_OTHER` included (for tables sized by index). */
  get size(): number {
    return this._count + 1;
  }

  /** The integration a call to `host` (and `port`) belongs to, or undefined when it is not an integration. */
  integrationOf(host: unknown, port: unknown): Integration | undefined {
    if (typeof host !== 'string' || host === '') return undefined;
    const key = this._hasPortRules && typeof port === 'number' ? `${host}:${port}` : host;
    let r = this._memo.get(key);
    if (r === undefined) {
      r = this._decide(host.toLowerCase(), typeof port === 'number' ? port : undefined);
      if (this._memo.size >= MEMO_LIMIT) this._memo.clear();
      this._memo.set(key, r);
    }
    return r ?? undefined;
  }

  private _decide(host: string, port: number | undefined): Integration | null {
    if (this._models.isModelHost(host)) return NONE;
    const withPort = port === undefined ? undefined : `${host}:${port}`;
    for (const rule of this._rules) {
      for (const p of rule.hosts) {
        if (p === host || p === withPort) return this._intern(p, rule.type);
        if (p.startsWith('*.') && host.endsWith(p.slice(1))) return this._intern(p.slice(2), rule.type);
      }
    }
    if (this._internal.isInternal(host)) return NONE;
    return this._intern(host, INTEGRATION_TYPE_HTTP);
  }

  private _intern(id: string, type: string): Integration {
    const key = `${type}\u0000${id}`;
    let i = this._byId.get(key);
    if (i !== undefined) return i;
    if (this._count >= this._max || id.length > 253) return this._other;
    i = { id, type, index: ++this._count };
    this._byId.set(key, i);
    return i;
  }
}
