import Module from 'node:module';
import { fileURLToPath } from 'node:url';
import { describeError, warnOnce } from './log';

export interface FirstRequireTriggerOptions {
  /**
   * True for a requiring file whose requires must not fire a trigger: tenantscope's own modules and the
   * OpenTelemetry packages (an OTLP exporter or the Prometheus endpoint requiring `http` is not the app using it).
   */
  ignoreRequirer(filename: string): boolean;
}

type ModulePrototype = { require(this: { filename?: string }, id: string): unknown };
type ResolveHook = (
  specifier: string,
  context: { parentURL?: string; conditions?: readonly string[] },
  next: (specifier: string, context?: unknown) => unknown
) => unknown;

/**
 * Runs a callback just before the app first requires or imports one of a set of modules: how an upstream
 * instrumentation is loaded only when the library it patches is (start-up cost, docs/benchmarks.md "Start-up").
 *
 * CommonJS: a wrapper around `Module.prototype.require`, the function every `require` call goes through. The
 * callback builds and enables the instrumentation, which registers its require-in-the-middle hook; when that
 * hook is new (a copy of `@opentelemetry/instrumentation` enabling its first instrumentation), it wraps
 * `Module.prototype.require` around ours, outside the call already in progress, so the call is sent again
 * through the new outermost `require` and the module is patched before the app gets its exports.
 * ES modules: a pass-through `module.registerHooks` resolve hook fires the same callbacks for `import`;
 * import-in-the-middle patches the module's namespace when it evaluates (or at once, if it already has).
 *
 * A callback runs once, whatever fired it; one that throws is logged once and the app's require goes on.
 */
export class FirstRequireTrigger {
  private readonly _ignore: (filename: string) => boolean;
  /** Module name (without `node:`) → callbacks not yet run. */
  private readonly _pending = new Map<string, (() => void)[]>();
  private _installed = false;

  constructor(options: FirstRequireTriggerOptions) {
    this._ignore = options.ignoreRequirer;
  }

  /** Runs `load` once, before the first of `names` is required or imported by anything not ignored. */
  on(names: readonly string[], load: () => void): void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      for (const n of names) this._pending.delete(n);
      try {
        load();
      } catch (err) {
        warnOnce(`first-require:${names.join(',')}`, `could not load the instrumentation for ${names.join(', ')} (${describeError(err)}); the app runs on without it`);
      }
    };
    for (const n of names) this._pending.set(n, [...(this._pending.get(n) ?? []), once]);
  }

  /** Installs the hooks (once). Until then nothing fires. */
  install(): void {
    if (this._installed) return;
    this._installed = true;
    const proto = (Module as unknown as { prototype: ModulePrototype }).prototype;
    const previous = proto.require;
    const trigger = this;
    proto.require = function (this: { filename?: string }, id: string): unknown {
      if (trigger._pending.size > 0 && trigger._fire(id, this.filename)) {
        // A hook installed while firing wraps `require` outside this call: go through it.
        if (proto.require !== wrapped) return proto.require.call(this, id);
      }
      return previous.call(this, id);
    };
    const wrapped = proto.require;
    const registerHooks = (Module as unknown as { registerHooks?: (hooks: { resolve: ResolveHook }) => unknown }).registerHooks;
    if (typeof registerHooks === 'function') {
      registerHooks({
        resolve: (specifier, context, next) => {
          // Imports only (requires went through the wrapper above), and only from files: import-in-the-middle's
          // wrapper modules (`node:http?iitm=true`) import the real module again on behalf of the first importer.
          const parent = context.parentURL;
          if (trigger._pending.size > 0 && context.conditions?.includes('require') !== true && (parent === undefined || parent.startsWith('file:'))) {
            let from: string | undefined;
            try {
              from = parent === undefined ? undefined : fileURLToPath(parent);
            } catch {
              from = undefined;
            }
            trigger._fire(specifier, from);
          }
          return next(specifier, context);
        },
      });
    }
  }

  /** Runs the callbacks waiting for `id`; true when there were some. */
  private _fire(id: string, requirer: string | undefined): boolean {
    const name = id.startsWith('node:') ? id.slice(5) : id;
    const callbacks = this._pending.get(name);
    if (callbacks === undefined || (requirer !== undefined && this._ignore(requirer))) return false;
    for (const cb of callbacks) cb();
    return true;
  }
}
