import type { Span } from '@opentelemetry/api';
import type { RPCMetadata } from '@opentelemetry/core';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The message of `http.server.request.start` (Node's `_http_server.js`, published before `emit('request')`). */
export interface RequestStartMessage {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
  server: Server;
}

/** What a response carries from its start to its end (one symbol-keyed property). */
export interface ServerRequestState {
  readonly span: Span;
  /** The RPC metadata in the request's context: instrumentation-express writes `route` into it. */
  readonly rpc: RPCMetadata;
  /** The request's method as sent (the span's name before a route is known). */
  readonly method: string;
  /** `http.request.method`, `url.scheme`, `network.protocol.version`: the duration histogram's attributes. */
  readonly metricAttributes: Record<string, string> | undefined;
  /** `performance.now()` at the start, when the duration is recorded. */
  readonly startedAt: number;
  ended: boolean;
  /** The instrumentation that started it (the response's listeners are shared functions). */
  readonly owner: { _end(response: ServerResponse, state: ServerRequestState): void; _fail(state: ServerRequestState, err: unknown): void };
}
