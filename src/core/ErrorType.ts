import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR_EXCEPTION_TYPE, EVENT_EXCEPTION } from './semconv';

/** Where a span keeps the class name of the last Error recorded on it (never exported). */
const CLASS = Symbol('tenantscope.exceptionClass');
/** Where a local root keeps the error type of the exception that escaped into its framework. */
const REQUEST_ERROR = Symbol('tenantscope.requestErrorType');
/** Marks the SDK's `recordException` once we wrapped it. */
const WRAPPED = Symbol.for('tenantscope.recordExceptionWrapped');

type Holder = { [CLASS]?: string; [REQUEST_ERROR]?: string };
type RecordException = (this: object, exception: unknown, time?: unknown) => void;

/**
 * Makes the SDK's spans remember the class name of each Error recorded on them (`recordException`), beside the
 * `exception.type` the SDK writes: that attribute is the error's `code` or `name`, and a subclass that does not
 * set `name` (`class QuotaExceededError extends Error {}`) records `Error`. The class name is kept on the span
 * object only; exported spans are unchanged. Wraps the prototype of the span class this package's SDK creates,
 * found through a throwaway provider with no processors; idempotent.
 */
export function captureExceptionClasses(): void {
  const probe = new TracerProvider().getTracer('tenantscope-probe').startSpan('probe');
  probe.end();
  const proto = Object.getPrototypeOf(probe) as { recordException?: RecordException & { [WRAPPED]?: true } };
  const original = proto.recordException;
  if (typeof original !== 'function' || original[WRAPPED] === true) return;
  const wrapped: RecordException & { [WRAPPED]?: true } = function (this: object, exception: unknown, time?: unknown): void {
    rememberExceptionClass(this, exception);
    return original.call(this, exception, time);
  };
  wrapped[WRAPPED] = true;
  proto.recordException = wrapped;
}

/**
 * Keeps on `span` the class name of `exception` when it is an Error (what the wrapped `recordException` does; the
 * lean span of src/trace/ calls it from its own `recordException`). Never throws.
 */
export function rememberExceptionClass(span: object, exception: unknown): void {
  try {
    if (exception instanceof Error) {
      const name = (exception.constructor as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string' && name !== '') (span as Holder)[CLASS] = name;
    }
  } catch {
    // A hostile error object (a throwing getter, a Proxy) only loses its class name.
  }
}

/**
 * The type of the exception recorded on `span`: the class name of the last Error recorded (see
 * {@link captureExceptionClasses}), else the `exception.type` of its last exception event; undefined when none.
 */
export function exceptionTypeOf(span: ReadableSpan): string | undefined {
  const cls = (span as unknown as Holder)[CLASS];
  if (cls !== undefined) return cls;
  const events = span.events;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.name !== EVENT_EXCEPTION) continue;
    const t = e.attributes?.[ATTR_EXCEPTION_TYPE];
    if (typeof t === 'string' && t !== '') return t;
  }
  return undefined;
}

/** Records on a local root the type of the exception that escaped into its framework (LocalTraceSpanProcessor). */
export function setRequestErrorType(root: object, type: string): void {
  (root as Holder)[REQUEST_ERROR] = type;
}

/** The error type {@link setRequestErrorType} recorded on a local root, if any. */
export function requestErrorTypeOf(span: object): string | undefined {
  return (span as Holder)[REQUEST_ERROR];
}
