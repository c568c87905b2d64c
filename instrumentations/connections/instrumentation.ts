import { context, propagation, type Context, type HrTime, type Span } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { IncomingMessage } from 'node:http';
import { describeError, warnOnce } from '../../src/core/log';
import type { GaugeSeries } from '../../src/core/metrics/MetricFamily';
import { VERSION } from '../../src/core/package';
import { requestSpanOf, unlinkRequestSpan } from '../../src/core/RequestSpan';
import { ATTR_HTTP_RESPONSE_TIME_TO_FIRST_BYTE, METRIC_WEBSOCKET_CONNECTIONS_ACTIVE } from '../../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell, getTenantCell } from '../../src/core/tenant/TenantCell';
import type { AnyFunction, HttpModule, WritableSocket } from './internal-types';
import type { ConnectionsInstrumentationOptions } from './types';
import { isEmptyChunk, isSwitchingProtocols, isWebSocketUpgrade, secondsSince } from './utils';

/**
 * Long-lived HTTP, which request spans do not describe well.
 *
 * WebSockets: `websocket_connections_active{tenant_id,service}` follows HTTP upgrades as they open and close. It
 * wraps the servers' `emit` for `upgrade` only: the upgrade request's headers give it a tenant cell (header or
 * baggage, through the global propagator) and the app's upgrade handling runs in that context, so a `setTenant()`
 * there counts. A connection opens when the socket writes `HTTP/1.1 101` (what `ws`, and socket.io through it,
 * write on accepting; a rejected upgrade writes no 101 and is not counted) and closes with the socket.
 *
 * Streamed responses: when a response writes its first body byte with `write()` before it ends (server-sent events,
 * piped streams), the request's server span gets `http.response.time_to_first_byte` (seconds since the span
 * started); a response sent whole with `end(body)` does not. `ServerResponse.prototype.write` is wrapped: for a
 * response with no linked span it costs one property read.
 */
export class ConnectionsInstrumentation extends InstrumentationBase<ConnectionsInstrumentationOptions> {
  /** Series by tenant index, created on first use. */
  private _series: (GaugeSeries | undefined)[] = [];

  constructor(config: ConnectionsInstrumentationOptions) {
    super('tenantscope-instrumentation-connections', VERSION, config);
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        'http',
        ['*'],
        (exports: HttpModule) => {
          this._patchServer(exports, 'http');
          const proto = exports.ServerResponse?.prototype;
          if (proto !== undefined) wrapShared(proto, 'write', (original) => this._patchWrite(original));
          return exports;
        },
        (exports: HttpModule) => {
          this._unpatchServer(exports);
          const proto = exports.ServerResponse?.prototype;
          if (proto !== undefined) unwrapShared(proto, 'write');
        }
      ),
      new InstrumentationNodeModuleDefinition(
        'https',
        ['*'],
        (exports: HttpModule) => {
          this._patchServer(exports, 'https');
          return exports;
        },
        (exports: HttpModule) => this._unpatchServer(exports)
      ),
    ];
  }

  private _patchServer(exports: HttpModule, name: string): void {
    try {
      const proto = exports.Server?.prototype;
      if (proto !== undefined) wrapShared(proto, 'emit', (original) => this._patchEmit(original));
    } catch (err) {
      warnOnce(`connections-patch-${name}`, `WebSocket connections on ${name} servers are not counted: ${describeError(err)}`);
    }
  }

  private _unpatchServer(exports: HttpModule): void {
    const proto = exports.Server?.prototype;
    if (proto !== undefined) unwrapShared(proto, 'emit');
  }

  private _patchEmit(original: AnyFunction): AnyFunction {
    const self = this;
    return function emit(this: unknown, event: unknown): unknown {
      // Every server event passes here ('request' once per request): anything but an upgrade goes straight on.
      if (event !== 'upgrade') return original.apply(this, arguments as unknown as unknown[]);
      const args = arguments as unknown as unknown[];
      let ctx: Context | undefined;
      try {
        ctx = self._onUpgrade(args[1] as IncomingMessage, args[2] as WritableSocket);
      } catch (err) {
        warnOnce('connections-upgrade', `a WebSocket upgrade was not followed: ${describeError(err)}`);
      }
      if (ctx === undefined) return original.apply(this, args);
      return context.with(ctx, () => original.apply(this, args));
    };
  }

  /** The context the app's upgrade handling runs in; undefined for an upgrade that is not a WebSocket. */
  private _onUpgrade(req: IncomingMessage, socket: WritableSocket): Context | undefined {
    if (!isWebSocketUpgrade(req?.headers) || typeof socket?.write !== 'function') return undefined;
    let ctx = propagation.extract(context.active(), req.headers);
    let cell = getTenantCell(ctx);
    if (cell === undefined) {
      // Another propagator than ours is installed: still a cell, so setTenant() works, with no tenant to start from.
      cell = new TenantCell(this.getConfig().tenants);
      ctx = ctx.setValue(TENANT_CONTEXT_KEY, cell);
    }
    const tenantCell = cell;
    const hadOwnWrite = Object.prototype.hasOwnProperty.call(socket, 'write');
    const write = socket.write;
    const self = this;
    // Replaced for one call: the first thing written on an upgrade socket is the handshake answer.
    socket.write = function (this: unknown, chunk: unknown): unknown {
      if (hadOwnWrite) socket.write = write;
      else delete (socket as Partial<WritableSocket>).write;
      try {
        if (isSwitchingProtocols(chunk)) self._opened(socket, tenantCell);
      } catch (err) {
        warnOnce('connections-opened', `a WebSocket connection was not counted: ${describeError(err)}`);
      }
      return write.apply(this, arguments as unknown as unknown[]);
    };
    return ctx;
  }

  /** Counts an accepted connection under its tenant as it is now, until its socket closes. */
  private _opened(socket: WritableSocket, cell: TenantCell): void {
    const { store, tenants, serviceName } = this.getConfig();
    const index = tenants.indexOf(cell);
    let series = this._series[index];
    if (series === undefined) {
      series = this._series[index] = store.gauge(METRIC_WEBSOCKET_CONNECTIONS_ACTIVE).get([tenants.labelAt(index), serviceName]);
    }
    const s = series;
    s.value++;
    socket.once('close', () => {
      s.value--;
    });
  }

  private _patchWrite(original: AnyFunction): AnyFunction {
    return function write(this: { req?: object }, chunk: unknown): unknown {
      const req = this.req;
      if (req !== undefined) {
        const span = requestSpanOf(req);
        if (span !== undefined) firstByte(req, span, chunk);
      }
      return original.apply(this, arguments as unknown as unknown[]);
    };
  }
}

/** On our wrappers: the function each one wraps. */
const ORIGINAL = Symbol('tenantscope.connections.original');
type Wrapper = AnyFunction & { [ORIGINAL]?: AnyFunction };

/**
 * Wraps `target[name]` alongside other instrumentations. Not with `_wrap`: the HTTP instrumentation wraps the same
 * `Server.prototype.emit`, and `_wrap` unwraps whatever shimmer wrapper it finds before wrapping, so each would
 * remove the other. Ours carries no shimmer marks: theirs goes around it, or it goes around theirs.
 */
function wrapShared(target: object, name: string, make: (original: AnyFunction) => AnyFunction): void {
  const t = target as Record<string, unknown>;
  const current = t[name];
  if (typeof current !== 'function' || (current as Wrapper)[ORIGINAL] !== undefined) return;
  const wrapper = make(current as AnyFunction) as Wrapper;
  wrapper[ORIGINAL] = current as AnyFunction;
  Object.defineProperty(target, name, { value: wrapper, writable: true, configurable: true, enumerable: false });
}

/** Restores `target[name]` when our wrapper is the outermost (another's wrapper around it stays, with ours inside). */
function unwrapShared(target: object, name: string): void {
  const current = (target as Record<string, unknown>)[name] as Wrapper | undefined;
  const original = current?.[ORIGINAL];
  if (original !== undefined) Object.defineProperty(target, name, { value: original, writable: true, configurable: true, enumerable: false });
}

/** Stamps the time to the first body byte on the request's server span, once. */
function firstByte(req: object, span: Span, chunk: unknown): void {
  try {
    if (isEmptyChunk(chunk)) return;
    unlinkRequestSpan(req);
    const start = (span as { startTime?: HrTime }).startTime;
    if (start !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_TIME_TO_FIRST_BYTE, secondsSince(start));
  } catch (err) {
    warnOnce('connections-first-byte', `a response's first byte was not timed: ${describeError(err)}`);
  }
}
