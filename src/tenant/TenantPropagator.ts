import {
  propagation,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { ATTR_SERVER_ADDRESS, BAGGAGE_TENANT_ID } from '../semconv';
import type { HostPolicy } from './HostPolicy';
import { isModelRequest } from './ModelEndpoints';
import { TENANT_CONTEXT_KEY, TenantCell, getTenantCell } from './TenantContext';

/**
 * Wraps the configured propagators. On extract (every incoming request) it gives the request a
 * {@link TenantCell} from the tenant header or the `tenant.id` baggage entry. On inject it sends the tenant
 * as baggage to internal hosts only, and strips a `tenant.id` entry from baggage bound anywhere else
 * (model providers included), whatever injects it.
 */
export class TenantPropagator implements TextMapPropagator {
  private readonly _baggage = new W3CBaggagePropagator();

  constructor(
    private readonly _inner: TextMapPropagator,
    private readonly _innerHasBaggage: boolean,
    private readonly _header: string,
    private readonly _hosts: HostPolicy
  ) {}

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const out = this._inner.extract(ctx, carrier, getter);
    let header: unknown = getter.get(carrier, this._header);
    if (Array.isArray(header)) header = header.length === 1 ? header[0] : header.join(',');
    let fromBaggage: string | undefined;
    if (this._innerHasBaggage) fromBaggage = propagation.getBaggage(out)?.getEntry(BAGGAGE_TENANT_ID)?.value;
    return out.setValue(TENANT_CONTEXT_KEY, new TenantCell(header, fromBaggage));
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpan(ctx) as { attributes?: Record<string, unknown> } | undefined;
    const address = span?.attributes?.[ATTR_SERVER_ADDRESS];
    // A model endpoint never gets the tenant, even on a loopback/private address: provider hosts, listed model
    // gateways, anything sent inside a model call, and what an SDK's own GenAI span injects.
    const internal = this._hosts.isInternal(address) && !isModelRequest(ctx, span?.attributes, address);
    const forward = internal ? getTenantCell(ctx)?.forward : undefined;
    let bag = propagation.getBaggage(ctx);
    if (forward !== undefined) {
      bag = (bag ?? propagation.createBaggage()).setEntry(BAGGAGE_TENANT_ID, { value: forward });
    } else if (bag?.getEntry(BAGGAGE_TENANT_ID) !== undefined) {
      bag = bag.removeEntry(BAGGAGE_TENANT_ID);
    }
    const out = bag === undefined ? ctx : propagation.setBaggage(ctx, bag);
    this._inner.inject(out, carrier, setter);
    if (!this._innerHasBaggage && forward !== undefined) {
      this._baggage.inject(propagation.setBaggage(ctx, propagation.createBaggage({ [BAGGAGE_TENANT_ID]: { value: forward } })), carrier, setter);
    }
  }

  fields(): string[] {
    const f = new Set(this._inner.fields());
    f.add('baggage');
    return [...f];
  }
}

export { TenantCell };
