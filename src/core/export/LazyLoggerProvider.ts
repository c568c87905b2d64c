import { createNoopLogger, type Logger, type LoggerOptions, type LoggerProvider } from '@opentelemetry/api';
import { describeError, warnOnce } from '../log';

/** The SDK logger provider as the lazy one uses it (`@opentelemetry/sdk-logs`' `LoggerProvider` is one). */
export interface FlushableLoggerProvider extends LoggerProvider {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** What the provider flushes and stops before it is built: the log record processors made at start. */
export interface Flushable {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The global logger provider, whose SDK provider is built at the first record (`emit`) or question (`enabled`) of
 * any logger it handed out: every instrumentation asks for a logger at construction, so `getLogger` alone builds
 * nothing, and `@opentelemetry/sdk-logs` is not loaded by a process that never logs through it (start-up,
 * docs/benchmarks.md). A logger asked for before the build turns into the SDK's at its first use. The log record processors are made at
 * start (their counters are in the store from the start, as before); `forceFlush()` and `shutdown()` before the
 * build reach them directly and load nothing. After `shutdown()` a logger is a no-op, as the SDK provider's is.
 */
export class LazyLoggerProvider implements FlushableLoggerProvider {
  private readonly _build: () => FlushableLoggerProvider;
  private readonly _processors: readonly Flushable[];
  private _provider: FlushableLoggerProvider | undefined;
  private _failed = false;
  private _down = false;

  constructor(build: () => FlushableLoggerProvider, processors: readonly Flushable[]) {
    this._build = build;
    this._processors = processors;
  }

  /** True once the SDK provider is built. */
  get built(): boolean {
    return this._provider !== undefined;
  }

  /** A logger that gets the SDK's at its first `emit` or `enabled` (every instrumentation asks for one at construction). */
  getLogger(name: string, version?: string, options?: LoggerOptions): Logger {
    if (this._provider !== undefined) return this._provider.getLogger(name, version, options);
    if (this._down || this._failed) return createNoopLogger();
    let real: Logger | undefined;
    const resolve = (): Logger => (real ??= this._provide()?.getLogger(name, version, options) ?? createNoopLogger());
    return {
      emit: (record) => resolve().emit(record),
      enabled: (opts) => resolve().enabled(opts),
    };
  }

  /** The SDK provider, built on the first call; undefined after a failed build or a shutdown before any build. */
  private _provide(): FlushableLoggerProvider | undefined {
    if (this._provider !== undefined || this._down || this._failed) return this._provider;
    try {
      this._provider = this._build();
    } catch (err) {
      this._failed = true;
      warnOnce('logger-provider', `could not build the logger provider (${describeError(err)}); log records are not shipped`);
    }
    return this._provider;
  }

  forceFlush(): Promise<void> {
    if (this._provider !== undefined) return this._provider.forceFlush();
    return Promise.all(this._processors.map((p) => p.forceFlush())).then(() => undefined);
  }

  shutdown(): Promise<void> {
    this._down = true;
    if (this._provider !== undefined) return this._provider.shutdown();
    return Promise.all(this._processors.map((p) => p.shutdown())).then(() => undefined);
  }
}
