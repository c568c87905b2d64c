/**
 * Fault injection for the containment tests. The compiled code is CommonJS: TypeScript emits a call to an imported
 * function as a property read on the module object (`(0, TenantCell_1.tenantCellOf)(span)`) and a method call as
 * a prototype look-up, so replacing the property on the module object or the prototype replaces what the code
 * calls. A fault throws once, inside the code path a hook guards (never the hook itself), then puts the original
 * back.
 */
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** The message of every injected error (log lines show it as `Error: injected fault`). */
export const INJECTED = 'injected fault';

export interface FaultOptions {
  /** Only a call made while this method runs (the hook whose guard is under test, or a step inside it). */
  during?: [target: object, name: string];
  /**
   * Only a call for which this holds: gets the call's arguments, the arguments of the innermost `during` call,
   * and the original function (to ask it about the arguments without the fault).
   */
  when?: (args: unknown[], duringArgs: unknown[], original: AnyFunction) => boolean;
}

export interface Fault {
  /** How many times it threw: 0 until the matching call, then 1. */
  readonly fired: number;
  /** Puts the originals back (also done when it fires); idempotent. */
  restore(): void;
}

const active = new Set<Fault>();

/** Replaces `target[name]` with a function that throws once, on the first call `options` select. */
export function throwOnce(target: object, name: string, options: FaultOptions = {}): Fault {
  const t = target as Record<string, unknown>;
  const original = t[name] as AnyFunction;
  if (typeof original !== 'function') throw new Error(`${name} is not a function on its target`);
  const during: unknown[][] = [];
  const restorers: (() => void)[] = [];
  let fired = 0;

  if (options.during !== undefined) {
    const h = options.during[0] as Record<string, unknown>;
    const hookName = options.during[1];
    const hook = h[hookName] as AnyFunction;
    if (typeof hook !== 'function') throw new Error(`${hookName} is not a function on its target`);
    const hadOwn = Object.prototype.hasOwnProperty.call(h, hookName);
    h[hookName] = function (this: unknown, ...args: unknown[]): unknown {
      during.push(args);
      try {
        return hook.apply(this, args);
      } finally {
        during.pop();
      }
    };
    restorers.push(() => (hadOwn ? (h[hookName] = hook) : delete h[hookName]));
  }
  const hadOwn = Object.prototype.hasOwnProperty.call(t, name);
  t[name] = function (this: unknown, ...args: unknown[]): unknown {
    if (
      fired === 0 &&
      (options.during === undefined || during.length > 0) &&
      (options.when === undefined || options.when(args, during[during.length - 1] ?? [], original))
    ) {
      fired = 1;
      fault.restore();
      throw new Error(INJECTED);
    }
    return original.apply(this, args);
  };
  restorers.push(() => (hadOwn ? (t[name] = original) : delete t[name]));

  const fault: Fault = {
    get fired() {
      return fired;
    },
    restore() {
      if (!active.delete(fault)) return;
      for (const r of restorers.reverse()) r();
    },
  };
  active.add(fault);
  return fault;
}

/** Restores every fault still armed (for `afterEach`). */
export function restoreFaults(): void {
  for (const f of [...active]) f.restore();
}

/** Every `diag` warning and error, as one line each; installed as the global diag logger at WARN. */
export class DiagLines implements DiagLogger {
  private _lines: string[] = [];

  install(): this {
    diag.setLogger(this, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    return this;
  }

  /** The lines logged since the last call. */
  take(): string[] {
    const out = this._lines;
    this._lines = [];
    return out;
  }

  error(message: string, ...args: unknown[]): void {
    this._lines.push(line(message, args));
  }

  warn(message: string, ...args: unknown[]): void {
    this._lines.push(line(message, args));
  }

  info(): void {}
  debug(): void {}
  verbose(): void {}
}

function line(message: string, args: unknown[]): string {
  return args.length === 0 ? message : `${message} ${args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ')}`;
}
