import { diag, type DiagLogger } from '@opentelemetry/api';

const PREFIX = 'tenantscope: ';
const said = new Set<string>();

/** Logs `message` through `diag.warn` once per `key` for the life of the process. */
export function warnOnce(key: string, message: string): void {
  if (said.has(key)) return;
  if (said.size < 1000) said.add(key);
  diag.warn(PREFIX + message);
}

/** Logs through `diag.warn` with the tenantscope prefix. */
export function warn(message: string): void {
  diag.warn(PREFIX + message);
}

/** Logs through `diag.debug` with the tenantscope prefix. */
export function debug(message: string): void {
  diag.debug(PREFIX + message);
}

/** Logs through `diag.error`; `err` is described by its type and message only, never its stack or fields. */
export function error(message: string, err?: unknown): void {
  diag.error(PREFIX + message + (err === undefined ? '' : `: ${describeError(err)}`));
}

/** A short description of an error, safe to log: never includes the error's own properties. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return typeof err;
}

/** A configuration value as it may appear in a log line: printable ASCII only, at most 80 characters. */
export function clip(v: string): string {
  const printable = v.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 80 ? printable.slice(0, 77) + '...' : printable;
}

/**
 * What the OTLP exporters' retrying transport (`@opentelemetry/otlp-exporter-base` 0.301,
 * `retrying-transport.cjs`) logs at `info` for every failed export: with a Collector down, one line per batch,
 * written to the app's stdout by `DiagConsoleLogger`. The outcome of each export is reported elsewhere (the log
 * export processor: one line when exports start failing, counters; the SDK's span and metric exporters: the
 * global error handler), so these lines carry nothing more.
 */
const EXPORT_RETRY_NOISE = ['Export retry time ', 'Export failed after maximum retry attempts', 'Export failed with non-retryable error'];

/** A diag logger that passes everything to `inner` except the per-export retry lines above. */
export class QuietExportDiagLogger implements DiagLogger {
  constructor(private readonly _inner: DiagLogger) {}

  error(message: string, ...args: unknown[]): void {
    this._inner.error(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    this._inner.warn(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    if (typeof message === 'string' && EXPORT_RETRY_NOISE.some((p) => message.startsWith(p))) return;
    this._inner.info(message, ...args);
  }

  debug(message: string, ...args: unknown[]): void {
    this._inner.debug(message, ...args);
  }

  verbose(message: string, ...args: unknown[]): void {
    this._inner.verbose(message, ...args);
  }
}
