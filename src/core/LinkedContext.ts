import type { Context } from '@opentelemetry/api';

/** Links a chain may grow to before `setValue` starts a flat one (bounds `getValue`'s walk). */
const MAX_DEPTH = 16;

/**
 * An OpenTelemetry `Context` kept as a chain of links, one per `setValue`/`deleteValue`, each pointing at the context it
 * came from. The API's own context (`ROOT_CONTEXT`'s class) copies its whole `Map` and makes three closures on every
 * `setValue`, and a traced request makes four or five of them (trace context, tenant cell, span, RPC metadata):
 * here each is one small object, and a read walks a few links. Behaves as the API's: a value set is seen by the
 * contexts made from it, never by the one it was set on; a deleted key reads `undefined`.
 *
 * A chain longer than {@link MAX_DEPTH} links is flattened into one link holding a `Map`, so a read never walks far.
 */
export class LinkedContext implements Context {
  private constructor(
    private readonly _parent: LinkedContext | undefined,
    private readonly _key: symbol | undefined,
    private readonly _value: unknown,
    private readonly _depth: number,
    /** Every key visible from this link (deleted ones as `undefined`); set on a flattened link only. */
    private readonly _flat: Map<symbol, unknown> | undefined
  ) {}

  /** The empty context, the root of every chain. */
  static readonly ROOT: LinkedContext = new LinkedContext(undefined, undefined, undefined, 0, undefined);

  getValue(key: symbol): unknown {
    let c: LinkedContext | undefined = this as LinkedContext;
    while (c !== undefined) {
      if (c._flat !== undefined) return c._flat.get(key);
      if (c._key === key) return c._value;
      c = c._parent;
    }
    return undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return this._link(key, value);
  }

  deleteValue(key: symbol): Context {
    return this._link(key, undefined);
  }

  private _link(key: symbol, value: unknown): LinkedContext {
    if (this._depth < MAX_DEPTH) return new LinkedContext(this, key, value, this._depth + 1, undefined);
    const flat = new Map<symbol, unknown>();
    flat.set(key, value);
    // Nearest link first: the first value seen for a key is the one it reads.
    let c: LinkedContext | undefined = this as LinkedContext;
    while (c !== undefined) {
      if (c._flat !== undefined) {
        for (const [k, v] of c._flat) if (!flat.has(k)) flat.set(k, v);
        break;
      }
      if (c._key !== undefined && !flat.has(c._key)) flat.set(c._key, c._value);
      c = c._parent;
    }
    return new LinkedContext(undefined, undefined, undefined, 0, flat);
  }
}
