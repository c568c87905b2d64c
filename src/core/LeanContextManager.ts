import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

type AnyFunction = (...args: unknown[]) => unknown;

/** Runs a bound target with the receiver and arguments its wrapper was called with (one function: no closure per call). */
function callTarget(target: AnyFunction, self: unknown, args: IArguments): unknown {
  return Reflect.apply(target, self, args);
}

/**
 * context-async-hooks' `AsyncLocalStorageContextManager` (3.x) with a cheaper `bind` for functions, which
 * instrumentations call per operation (instrumentation-pg binds two callbacks per query, and each runs once).
 *
 * Upstream's wrapper collects its arguments into an array, makes a closure on every call, goes through `with()`,
 * and has `Object.defineProperty` set its `length` when it is made, which is the slowest step of a bind in V8. Here
 * the wrapper of a function of 0–4 declared parameters declares as many itself, so its `length` is the target's
 * without `defineProperty`, and it runs the target through the same `AsyncLocalStorage.run` with the receiver
 * and `arguments` as they came. Other functions, event emitters, `with`, `active` and `attach` are upstream's.
 *
 * What the bound function does is unchanged: the target runs in the bound context with the caller's receiver and
 * every argument (also beyond its declared ones), its value or exception comes back, the caller's context is
 * active again afterwards, and the wrapper's `length` is the target's (`bench/contextBind` has the numbers).
 */
export class LeanContextManager extends AsyncLocalStorageContextManager {
  /** Upstream's storage, when it is where 3.x keeps it; otherwise every bind goes upstream's way. */
  private readonly _als: AsyncLocalStorage<Context> | undefined;

  constructor() {
    super();
    const als = (this as unknown as { _asyncLocalStorage?: unknown })._asyncLocalStorage;
    this._als = als instanceof AsyncLocalStorage ? (als as AsyncLocalStorage<Context>) : undefined;
  }

  override bind<T>(context: Context, target: T): T {
    const als = this._als;
    if (als === undefined || typeof target !== 'function' || target instanceof EventEmitter) return super.bind(context, target);
    const fn = target as unknown as AnyFunction;
    let wrapper: AnyFunction;
    // Each wrapper reads `arguments`, never its parameters: they are declared only for `length`.
    switch (fn.length) {
      case 0:
        wrapper = function contextWrapper(this: unknown) {
          return als.run(context, callTarget, fn, this, arguments);
        };
        break;
      case 1:
        wrapper = function contextWrapper(this: unknown, _a: unknown) {
          return als.run(context, callTarget, fn, this, arguments);
        };
        break;
      case 2:
        wrapper = function contextWrapper(this: unknown, _a: unknown, _b: unknown) {
          return als.run(context, callTarget, fn, this, arguments);
        };
        break;
      case 3:
        wrapper = function contextWrapper(this: unknown, _a: unknown, _b: unknown, _c: unknown) {
          return als.run(context, callTarget, fn, this, arguments);
        };
        break;
      case 4:
        wrapper = function contextWrapper(this: unknown, _a: unknown, _b: unknown, _c: unknown, _d: unknown) {
          return als.run(context, callTarget, fn, this, arguments);
        };
        break;
      default:
        return super.bind(context, target);
    }
    return wrapper as unknown as T;
  }
}
