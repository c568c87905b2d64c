import {
  propagation,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { describeError, warnOnce } from '../core/log';
import { ATTR_SERVER_ADDRESS, BAGGAGE_TENANT_ID } from '../core/semconv';
import type { HostPolicy } from '../core/tenant/HostPolicy';
import type { ModelEndpointPolicy } from '../core/tenant/ModelEndpointPolicy';
import { TENANT_CONTEXT_KEY, TenantCell, getTenantCell } from '../core/tenant/TenantCell';
import type { TenantRegistry } from '../core/tenant/TenantRegistry';

export interface TenantPropagatorOptions {
  /** The configured propagators (tracecontext, baggage, b3…), composed. */
  inner: TextMapPropagator;
  /** True when `inner` carries W3C baggage itself. */
  innerHasBaggage: boolean;
  /** Lower-case name of the incoming header that names the tenant. */
  header: string;
  /** Validates tenant ids; the cells it creates belong to it. */
  tenants: TenantRegistry;
  /** Hosts that may receive the tenant as baggage. */
  baggageHosts: HostPolicy;
  /** Model endpoints: never sent tenant baggage, even on an internal address. */
  modelEndpoints: ModelEndpointPolicy;
}

/**
 * Wraps the configured propagators. On extract (every incoming request) it gives the request a
 * {@link TenantCell} from the tenant header or the `tenant.id` baggage entry. On inject it sends the tenant
 * as baggage to internal hosts only, and strips a `tenant.id` entry from baggage bound anywhere else
 * (model providers included), whatever injects it.
 *
 * It runs on every request, inside instrumentations that do not guard the global propagator: nothing it does
 * may throw. Wrapping `CompositePropagator` loses that class's per-propagator guard, so both directions are
 * guarded here; on a failure of our own part the inner propagator's result is used unchanged.
 */
export class TenantPropagator implements TextMapPropagator {
  private readonly _baggage = new W3CBaggagePropagator();
  private readonly _inner: TextMapPropagator;
  private readonly _innerHasBaggage: boolean;
  private readonly _header: string;
  private readonly _tenants: TenantRegistry;
  private readonly _hosts: HostPolicy;
  private readonly _models: ModelEndpointPolicy;

  constructor(options: TenantPropagatorOptions) {
    this._inner = options.inner;
    this._innerHasBaggage = options.innerHasBaggage;
    this._header = options.header;
    this._tenants = options.tenants;
    this._hosts = options.baggageHosts;
    this._models = options.modelEndpoints;
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    let out = ctx;
    try {
      out = this._inner.extract(ctx, carrier, getter);
    } catch (err) {
      warnOnce('propagator-extract-inner', `trace context extraction failed: ${describeError(err)}`);
    }
    try {
      let header: unknown = getter.get(carrier, this._header);
      if (Array.isArray(header)) header = header.length === 1 ? header[0] : header.join(',');
      let fromBaggage: string | undefined;
      if (this._innerHasBaggage) fromBaggage = propagation.getBaggage(out)?.getEntry(BAGGAGE_TENANT_ID)?.value;
      return out.setValue(TENANT_CONTEXT_KEY, new TenantCell(this._tenants, header, fromBaggage));
    } catch (err) {
      warnOnce('propagator-extract', `the request's tenant was not read: ${describeError(err)}`);
      return out;
    }
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    let out = ctx;
    let forward: string | undefined;
    try {
      const span = trace.getSpan(ctx) as { attributes?: Record<string, unknown> } | undefined;
      const address = span?.attributes?.[ATTR_SERVER_ADDRESS];
      // A model endpoint never gets the tenant, even on a loopback/private address: provider hosts, listed model
      // gateways, anything sent inside a model call, and what an SDK's own GenAI span injects.
      const internal = this._hosts.isInternal(address) && !this._models.isModelRequest(ctx, span?.attributes, address);
      forward = internal ? getTenantCell(ctx)?.forward : undefined;
      let bag = propagation.getBaggage(ctx);
      if (forward !== undefined) {
        bag = (bag ?? propagation.createBaggage()).setEntry(BAGGAGE_TENANT_ID, { value: forward });
      } else if (bag?.getEntry(BAGGAGE_TENANT_ID) !== undefined) {
        bag = bag.removeEntry(BAGGAGE_TENANT_ID);
      }
      if (bag !== undefined) out = propagation.setBaggage(ctx, bag);
    } catch (err) {
      warnOnce('propagator-inject', `tenant baggage was not decided: ${describeError(err)}`);
      // Fail closed: without a decision, no tenant entry leaves the process.
      forward = undefined;
      out = stripTenant(ctx);
    }
    try {
      this._inner.inject(out, carrier, setter);
      if (!this._innerHasBaggage && forward !== undefined) {
        this._baggage.inject(propagation.setBaggage(ctx, propagation.createBaggage({ [BAGGAGE_TENANT_ID]: { value: forward } })), carrier, setter);
      }
    } catch (err) {
      warnOnce('propagator-inject-inner', `trace context injection failed: ${describeError(err)}`);
    }
  }

  fields(): string[] {
    const f = new Set(this._inner.fields());
    f.add('baggage');
    return [...f];
  }
}

/** `ctx` without a `tenant.id` baggage entry (without any baggage if even that fails). */
function stripTenant(ctx: Context): Context {
  try {
    const bag = propagation.getBaggage(ctx);
    return bag === undefined ? ctx : propagation.setBaggage(ctx, bag.removeEntry(BAGGAGE_TENANT_ID));
  } catch {
    return propagation.deleteBaggage(ctx);
  }
}
