import { diag, DiagConsoleLogger, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';

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
 * written to the app's stdout by `DiagConsoleLogger`. The outcome of each export is reported elsewhere (one line
 * when exports start failing and one when they recover, counters), so these lines carry nothing more. (The span
 * and metric exporters use tenantscope's guarded transport; the log exporter still the stock one.)
 */
const EXPORT_RETRY_NOISE = ['Export retry time ', 'Export failed after maximum retry attempts', 'Export failed with non-retryable error'];

/**
 * The console logger tenantscope installs for `diag`. It can mute warnings for the length of a call: the upstream
 * OTLP exporters read the `OTEL_EXPORTER_OTLP_*` variables again when built, and would repeat (without naming the
 * variable or the value used) a problem our configuration already reported in one line. Muted lines still show at
 * `OTEL_LOG_LEVEL=debug`.
 */
export class TenantScopeDiagLogger implements DiagLogger {
  private readonly _inner = new DiagConsoleLogger();
  private _muted = 0;

  constructor(private readonly _level: DiagLogLevel) {}

  /** Runs `fn` with other components' warnings demoted to debug. */
  muted<T>(fn: () => T): T {
    this._muted++;
    try {
      return fn();
    } finally {
      this._muted--;
    }
  }

  error(message: string, ...args: unknown[]): void {
    this._inner.error(message, ...args);
  }
  warn(message: string, ...args: unknown[]): void {
    if (this._muted === 0 || message.startsWith(PREFIX)) this._inner.warn(message, ...args);
    else if (this._level >= DiagLogLevel.DEBUG) this._inner.debug(message, ...args);
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
