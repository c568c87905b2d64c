import type { Span } from '@opentelemetry/api';
import type { CacheTypes } from '../src/core/cache/CacheTypes';
import { describeError, warnOnce } from '../src/core/log';
import { ATTR_CACHE_HIT, ATTR_CACHE_HITS, ATTR_CACHE_MISSES, ATTR_CACHE_TYPE, VALUE_OTHER } from '../src/core/semconv';

/** How a read command's reply says what was found. */
const enum Reply {
  /** One key (or field); a non-null reply is a hit: GET, GETEX, GETDEL, HGET. */
  Value,
  /** One key; an integer 1 is a hit: HEXISTS. */
  Flag,
  /** One key; a non-empty hash is a hit: HGETALL (a missing key reads as an empty hash). */
  Hash,
  /** One key per argument; one reply entry per key, null for a miss: MGET. */
  Values,
  /** One key, one field per further argument; one reply entry per field: HMGET. */
  Fields,
  /** One key per argument; the reply counts the keys that exist: EXISTS. */
  Count,
}

/** Read commands treated as cache lookups (ioredis command names are lower-case). */
const READS = new Map<string, Reply>([
  ['get', Reply.Value],
  ['getex', Reply.Value],
  ['getdel', Reply.Value],
  ['hget', Reply.Value],
  ['hexists', Reply.Flag],
  ['hgetall', Reply.Hash],
  ['mget', Reply.Values],
  ['hmget', Reply.Fields],
  ['exists', Reply.Count],
]);

/**
 * An ioredis `responseHook` that marks read commands as cache lookups: `cache.hit` (one key) or `cache.hits` and
 * `cache.misses` (several keys or fields), and `cache.type` from the key (see {@link CacheTypes}). Only whether a
 * value came back is looked at: the value itself is never read into telemetry. A failed command never reaches it.
 */
export function redisCacheResponseHook(types: CacheTypes): (span: Span, cmdName: string, cmdArgs: unknown[], response: unknown) => void {
  return (span, cmdName, cmdArgs, response) => {
    try {
      const kind = READS.get(cmdName);
      if (kind === undefined || !Array.isArray(cmdArgs) || cmdArgs.length === 0) return;
      switch (kind) {
        case Reply.Value:
          single(span, types.fromKey(cmdArgs[0]), response !== null && response !== undefined);
          return;
        case Reply.Flag:
          single(span, types.fromKey(cmdArgs[0]), response === 1);
          return;
        case Reply.Hash:
          single(span, types.fromKey(cmdArgs[0]), nonEmpty(response));
          return;
        case Reply.Values:
        case Reply.Fields: {
          if (!Array.isArray(response)) return;
          let hits = 0;
          for (let i = 0; i < response.length; i++) if (response[i] !== null && response[i] !== undefined) hits++;
          const type = kind === Reply.Fields ? types.fromKey(cmdArgs[0]) : typeOfKeys(types, cmdArgs);
          many(span, type, hits, response.length - hits);
          return;
        }
        case Reply.Count: {
          if (typeof response !== 'number') return;
          const hits = Math.max(0, Math.min(response, cmdArgs.length));
          if (cmdArgs.length === 1) single(span, types.fromKey(cmdArgs[0]), hits === 1);
          else many(span, typeOfKeys(types, cmdArgs), hits, cmdArgs.length - hits);
          return;
        }
      }
    } catch (err) {
      warnOnce('redis-cache-hook', `a Redis read was not marked as a cache lookup: ${describeError(err)}`);
    }
  };
}

function single(span: Span, type: string, hit: boolean): void {
  span.setAttribute(ATTR_CACHE_TYPE, type);
  span.setAttribute(ATTR_CACHE_HIT, hit);
}

function many(span: Span, type: string, hits: number, misses: number): void {
  span.setAttribute(ATTR_CACHE_TYPE, type);
  span.setAttribute(ATTR_CACHE_HITS, hits);
  span.setAttribute(ATTR_CACHE_MISSES, misses);
}

/** The keys' common type, or `_OTHER` when they differ. */
function typeOfKeys(types: CacheTypes, keys: unknown[]): string {
  const first = types.fromKey(keys[0]);
  for (let i = 1; i < keys.length; i++) if (types.fromKey(keys[i]) !== first) return VALUE_OTHER;
  return first;
}

/** A hash reply with at least one field: the raw `[field, value, …]` array, or the object ioredis makes of it. */
function nonEmpty(reply: unknown): boolean {
  if (Array.isArray(reply)) return reply.length > 0;
  if (reply === null || typeof reply !== 'object') return false;
  for (const _ in reply) return true;
  return false;
}
