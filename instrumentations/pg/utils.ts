import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { AnyFunction, PgClient } from './internal-types';

/** Upstream's `getSemanticAttributesFromConnection`. */
export function connectionAttributes(params: NonNullable<PgClient['connectionParameters']>): Record<string, unknown> {
  return {
    'db.system.name': 'postgresql',
    'db.namespace': params.database,
    'server.address': params.host,
    'server.port': integer(params.port),
  };
}

/** Upstream's `getPort`: the port when it is an integer. */
export function integer(port: unknown): number | undefined {
  return Number.isInteger(port) ? (port as number) : undefined;
}

/** Upstream's `parseNormalizedOperationName`: the statement's first word, upper-cased, without a trailing `;`. */
export function operationName(text: string): string {
  const trimmed = text.trim();
  const space = trimmed.indexOf(' ');
  const command = (space === -1 ? trimmed : trimmed.slice(0, space)).toUpperCase();
  return command.endsWith(';') ? command.slice(0, -1) : command;
}

/** Upstream's `getErrorMessage`. */
export function errorMessage(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : undefined;
}

/**
 * What upstream records for a failed call: an exception event naming only the error's type and PostgreSQL code (the
 * message can hold query values), and the error status with `message`.
 */
export function fail(span: Span, e: unknown, message: string | undefined): void {
  if (e instanceof Error) {
    const err = e as Error & { code?: unknown };
    span.recordException(`PostgreSQL error of type '${err.name ?? 'PostgreSQLError'}' occurred (code: ${(err.code as string | undefined) ?? 'UNKNOWN'})`);
  }
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * `result` as it is, or, when it is a promise, one that ends `span` as it settles (recording a rejection's error):
 * what upstream does for a query's and a checkout's promise, without its extra promises.
 */
export function endWhenSettled(span: Span, result: unknown): unknown {
  if (!(result instanceof Promise)) return result;
  return result.then(
    (value: unknown) => {
      span.end();
      return value;
    },
    (e: unknown) => {
      fail(span, e, errorMessage(e));
      span.end();
      throw e;
    }
  );
}

/** Upstream's `patchCallback` without the histogram. */
export function endingCallback(span: Span, cb: AnyFunction): AnyFunction {
  return function patchedCallback(this: unknown, err: unknown, res: unknown): unknown {
    if (err) fail(span, err, (err as { message?: string }).message);
    span.end();
    return cb.call(this, err, res);
  };
}

/** Upstream's `patchCallbackPGPool`. */
export function endingPoolCallback(span: Span, cb: AnyFunction): AnyFunction {
  return function patchedCallback(this: unknown, err: unknown, res: unknown, done: unknown): unknown {
    if (err) fail(span, err, (err as { message?: string }).message);
    span.end();
    return cb.call(this, err, res, done);
  };
}
