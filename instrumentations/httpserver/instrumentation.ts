import { context, propagation, ROOT_CONTEXT, type Context, SpanKind, SpanStatusCode, trace, type Histogram, type Span } from '@opentelemetry/api';
import { getRPCMetadata, RPCType, setRPCMetadata, suppressTracing, type RPCMetadata } from '@opentelemetry/core';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { errorMonitor } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { LinkedContext } from '../../src/core/LinkedContext';
import { describeError, warnOnce } from '../../src/core/log';
import { VERSION } from '../../src/core/package';
import { linkRequestSpan, requestSizeAttributes } from '../../src/core/RequestSpan';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_URL_SCHEME,
} from '../../src/core/semconv';
import type { RequestStartMessage, ServerRequestState } from './internal-types';
import type { HttpServerChannelInstrumentationOptions } from './types';
import { isServerOk, requestAttributes, serverErrorType } from './utils';

/** Node publishes this before it emits `request` on the server (`_http_server.js`, `parserOnIncoming`). */
const REQUEST_START = 'http.server.request.start';
const STATE = Symbol('tenantscope.httpServerRequest');
type WithState = { [STATE]?: ServerRequestState };

/** `Expect` values Node answers itself with `100 Continue` before it emits `request`. */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** Context an own server's request runs in: tracing suppressed, nothing of the connection's last request. */
const SUPPRESSED = suppressTracing(ROOT_CONTEXT);

/**
 * Server spans for `node:http` / `node:https` from Node's `http.server.request.start` diagnostics channel, instead
 * of upstream instrumentation-http's wrapper around `Server.prototype.emit` (whose client side stays on).
 *
 * The subscriber runs in the tick that emits `request`, just before it: it extracts the remote context through the
 * global propagator (W3C trace context, baggage, Jaeger, the tenant header), starts the SERVER span with the
 * attributes upstream gives it (stable HTTP conventions), puts the RPC metadata instrumentation-express writes the
 * route into, and *enters* that context (`enter`: `AsyncLocalStorage.enterWith`), so the app's handler and all it
 * schedules run in it. Like upstream, listeners on the request and response run in it too (their `emit` runs in
 * it): a body read to its `end`, which arrives in later socket reads, continues the request's trace.
 *
 * The span ends when the response closes (finished or aborted), with the status, `http.route` and span name upstream
 * sets; an `error` on the response records the exception and ends it. Requests Node answers without emitting
 * `request` (`Expect` it handles itself, HTTP/1.1 without Host) get no span, as with upstream. An exception the
 * handler throws is recorded on the span from `uncaughtExceptionMonitor` (upstream catches it around `emit`). A
 * subscriber that throws would surface as an uncaught exception in the app: every step is guarded here.
 */
export class HttpServerChannelInstrumentation extends InstrumentationBase<HttpServerChannelInstrumentationOptions> {
  private _subscribed = false;
  /** Set by the base constructor (through `setMeterProvider`), before this class's fields: declared, not defined. */
  declare private _duration: Histogram | undefined;
  private readonly _onStart = (message: unknown): void => this._start(message as RequestStartMessage);

  constructor(config: HttpServerChannelInstrumentationOptions) {
    super('tenantscope-instrumentation-http-server', VERSION, config);
    // The base constructor's enable() ran before this class's fields existed.
    if (this.getConfig().enabled !== false) this._subscribe();
  }

  protected init(): [] {
    return [];
  }

  protected override _updateMetricInstruments(): void {
    this._duration = this.meter.createHistogram('http.server.request.duration', {
      description: 'Duration of HTTP server requests.',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] },
    });
  }

  override enable(): void {
    super.enable();
    if (this._onStart !== undefined) this._subscribe();
  }

  override disable(): void {
    super.disable();
    if (this._subscribed !== true) return;
    unsubscribe(REQUEST_START, this._onStart);
    process.removeListener('uncaughtExceptionMonitor', onUncaught);
    this._subscribed = false;
  }

  private _subscribe(): void {
    if (this._subscribed) return;
    subscribe(REQUEST_START, this._onStart);
    process.on('uncaughtExceptionMonitor', onUncaught);
    this._subscribed = true;
  }

  private _start(message: RequestStartMessage): void {
    const config = this.getConfig();
    try {
      const { request, response, server } = message;
      if (config.ownServers?.isOwnRequest(request) === true) {
        config.enter(SUPPRESSED);
        return;
      }
      if (!emitsRequest(request, server)) {
        config.enter(ROOT_CONTEXT);
        return;
      }
      const scheme = (message.socket as { encrypted?: boolean } | undefined)?.encrypted === true ? 'https' : 'http';
      const attributes = requestAttributes(request, scheme);
      Object.assign(attributes, requestSizeAttributes(request));
      // The request's contexts as a chain of links (src/core/LinkedContext.ts), not the API's copied Maps.
      const parent = propagation.extract(LinkedContext.ROOT, request.headers);
      const method = request.method || 'GET';
      // The attributes go on after the start, not in the start options: sdk-trace cleans start attributes twice
      // (before and after the sampler), a WeakSet per value each time, and setAttributes once. The configurable
      // samplers (src/core/config.ts) never read start attributes, so the span and the decision are the same.
      const span = this.tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
      span.setAttributes(attributes);
      // Neither is a literal: each refers to the span and lives as long as the request, and V8 would pretenure a
      // literal's site, keeping every ended server span alive until the next full GC (src/core/SiteFree.ts).
      const rpc = {} as RPCMetadata;
      rpc.type = RPCType.HTTP;
      rpc.span = span;
      const ctx = setRPCMetadata(trace.setSpan(parent, span), rpc);
      const state = new RequestState(
        span,
        rpc,
        method,
        config.recordDuration === true ? metricAttributes(attributes) : undefined,
        config.recordDuration === true ? performance.now() : 0,
        this
      );
      (response as WithState)[STATE] = state;
      (rpc as WithState)[STATE] = state;
      // They read the state, not the context.
      response.on('close', onClose);
      response.on(errorMonitor, onError);
      linkRequestSpan(request, span);
      bindEmit(request, ctx);
      bindEmit(response, ctx);
      config.enter(ctx);
    } catch (err) {
      warnOnce('http-server-start', `an incoming request got no server span: ${describeError(err)}`);
      // Its handler runs untraced, never in what the connection's last request left active.
      try {
        config.enter(ROOT_CONTEXT);
      } catch {
        // enter itself failed: nothing else to do.
      }
    }
  }

  /** Ends the span as upstream's `_onServerResponseFinish` does. */
  _end(response: ServerResponse, state: ServerRequestState): void {
    try {
      state.ended = true;
      const span = state.span;
      const status = response.statusCode;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      const route = state.rpc.route;
      if (route !== undefined) span.setAttribute(ATTR_HTTP_ROUTE, route);
      if (!isServerOk(status)) span.setStatus({ code: SpanStatusCode.ERROR });
      const errorType = serverErrorType(status);
      if (errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, errorType);
      if (route) span.updateName(`${state.method} ${route}`);
      span.end();
      if (state.metricAttributes !== undefined) {
        const attrs = state.metricAttributes;
        if (route !== undefined) attrs[ATTR_HTTP_ROUTE] = route;
        if (status) {
          attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = status as unknown as string;
          if (errorType !== undefined) attrs[ATTR_ERROR_TYPE] ??= errorType;
        }
        this._duration?.record((performance.now() - state.startedAt) / 1000, attrs);
      }
    } catch (err) {
      warnOnce('http-server-end', `a server span could not be completed: ${describeError(err)}`);
    }
  }

  /** Ends the span as upstream's `_onServerResponseError` does. */
  _fail(state: ServerRequestState, err: unknown): void {
    try {
      state.ended = true;
      const span: Span = state.span;
      const e = err as { name?: string; message?: string } | null | undefined;
      span.setAttribute(ATTR_ERROR_TYPE, String(e?.name));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e?.message });
      span.recordException(err as Error);
      span.end();
      if (state.metricAttributes !== undefined) {
        state.metricAttributes[ATTR_ERROR_TYPE] = String(e?.name);
        this._duration?.record((performance.now() - state.startedAt) / 1000, state.metricAttributes);
      }
    } catch (failure) {
      warnOnce('http-server-end', `a server span could not be completed: ${describeError(failure)}`);
    }
  }
}

/** What a response carries from its start to its end (a class: see the comment where it is made). */
class RequestState implements ServerRequestState {
  ended = false;
  constructor(
    readonly span: Span,
    readonly rpc: RPCMetadata,
    readonly method: string,
    readonly metricAttributes: Record<string, string> | undefined,
    readonly startedAt: number,
    readonly owner: ServerRequestState['owner']
  ) {}
}

/**
 * Runs every listener of `emitter` in `ctx`, as upstream's `context.bind(ctx, emitter)` does for the listeners added
 * after it: one own `emit` instead of seven patched listener methods and a wrapper per listener (measured: about a
 * quarter of the instructions of a traced hello-world request, docs/benchmarks.md). Node's own listeners on the
 * request and response run in `ctx` too; they start no spans.
 */
function bindEmit(emitter: { emit: (...args: any[]) => boolean }, ctx: Context): void {
  const emit = emitter.emit;
  emitter.emit = function (this: unknown, ...args: unknown[]): boolean {
    // Already in it (an emit from the handler's own code, such as `finish` inside `res.end()`): the listeners run in
    // it without a new async context frame. (What differs from `with`: a listener's own `enterWith` is not undone
    // when the emit returns, as it is not for any emit outside a `with`.)
    if (context.active() === ctx) return emit.apply(this, args);
    return context.with(ctx, emit, this, ...args);
  };
}

/**
 * An exception the app's code throws out of a request's handler (upstream catches it around `emit('request')`):
 * the context active when Node reports it is the request's, so its server span records it and ends as upstream's
 * does. A monitor only: Node's own handling (the app's `uncaughtException` listener, or exit) is unchanged.
 */
function onUncaught(err: unknown): void {
  try {
    const state = (getRPCMetadata(context.active()) as WithState | undefined)?.[STATE];
    if (state !== undefined && !state.ended) state.owner._fail(state, err);
  } catch {
    // Nothing may be added to an uncaught exception.
  }
}

/** `close` on the response: finished or aborted (upstream ends its span here too). One function for all. */
function onClose(this: ServerResponse & WithState): void {
  const state = this[STATE];
  if (state !== undefined && !state.ended) state.owner._end(this, state);
}

/** `error` on the response (errorMonitor: the app's own error handling is unchanged). */
function onError(this: ServerResponse & WithState, err: unknown): void {
  const state = this[STATE];
  if (state !== undefined && !state.ended) state.owner._fail(state, err);
}

/**
 * False for a request Node answers without emitting `request` (`parserOnIncoming`): HTTP/1.1 without Host (400), an
 * `Expect` the app's `checkContinue`/`checkExpectation` listener handles or Node refuses (417). Upstream wraps
 * `emit('request')`, so these get no span there either.
 */
function emitsRequest(request: IncomingMessage, server: Server): boolean {
  if (request.httpVersionMajor !== 1 || request.httpVersionMinor !== 1) return true;
  if ((server as { requireHostHeader?: boolean }).requireHostHeader !== false && request.headers.host === undefined) return false;
  const expect = request.headers.expect;
  if (expect === undefined) return true;
  return CONTINUE.test(expect) && server.listenerCount('checkContinue') === 0;
}

/** The duration histogram's start attributes, as upstream picks them. */
function metricAttributes(attributes: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {
    [ATTR_HTTP_REQUEST_METHOD]: attributes[ATTR_HTTP_REQUEST_METHOD] as string,
    [ATTR_URL_SCHEME]: attributes[ATTR_URL_SCHEME] as string,
  };
  const version = attributes[ATTR_NETWORK_PROTOCOL_VERSION];
  if (version) out[ATTR_NETWORK_PROTOCOL_VERSION] = version as string;
  return out;
}
