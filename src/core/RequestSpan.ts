import type { Span } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import { ATTR_HTTP_REQUEST_BODY_SIZE } from './semconv';

/**
 * Where an incoming request keeps its server span until its response writes the first body byte: the HTTP
 * instrumentation's request hook links them (instrumentations/upstream.ts), the connections instrumentation reads
 * and clears the link on the first write (instrumentations/connections/). A symbol-keyed property, like the span's
 * tenant cell.
 */
const REQUEST_SPAN = Symbol('tenantscope.requestSpan');
type WithSpan = { [REQUEST_SPAN]?: Span };

/** Links an incoming request to its server span. */
export function linkRequestSpan(request: object, span: Span): void {
  (request as WithSpan)[REQUEST_SPAN] = span;
}

/** The server span of an incoming request, until {@link unlinkRequestSpan}. */
export function requestSpanOf(request: object): Span | undefined {
  return (request as WithSpan)[REQUEST_SPAN];
}

/** Drops the link (after the first body byte, so later writes cost one property read). */
export function unlinkRequestSpan(request: object): void {
  (request as WithSpan)[REQUEST_SPAN] = undefined;
}

/**
 * Request size for `http_request_size_bytes`, from the `content-length` header only: the body is never read or
 * listened to (a `data` listener would change the app's stream). Both HTTP server instrumentations add it.
 */
export function requestSizeAttributes(request: IncomingMessage): Record<string, number> {
  const raw = request.headers['content-length'];
  if (raw === undefined) return {};
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? { [ATTR_HTTP_REQUEST_BODY_SIZE]: n } : {};
}
