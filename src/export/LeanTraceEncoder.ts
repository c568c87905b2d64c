/**
 * The serializer of tenantscope's OTLP/protobuf trace exporter (issue 11, "Encoding"): `ExportTraceServiceRequest`
 * bytes for a batch of spans, identical byte for byte to `@opentelemetry/otlp-transformer` 0.301's
 * `ProtobufTraceSerializer` (test/unit/leanTraceEncoder.test.ts compares them on spans the real SDK made through
 * tenantscope, and decodes both with the OTLP message definitions), for about a third of its CPU
 * (bench/encode.bench.ts). `installLeanTraceSerializer` puts it inside the upstream http/protobuf exporter, in place
 * of upstream's `serializeRequest` only; `TENANTSCOPE_OTLP_TRACE_ENCODER=upstream` leaves upstream's.
 *
 * What it does differently from upstream's serializer, which already writes straight from `ReadableSpan`s:
 * - one pass: upstream walks every span twice (a size-estimating pass, then the writing pass); this writes into one
 *   scratch buffer kept across exports (as large as the largest batch so far), growing it when needed, and
 *   back-patches each message length (a one-byte reservation, shifted when the length needs more, as upstream's
 *   writer does too); the request is a copy of the written bytes, so nothing the transport still holds (a retry,
 *   a gzip on the thread pool) is ever overwritten by the next batch;
 * - strings that repeat on every span (attribute keys, span names, scope names, short values such as `GET` or
 *   `postgresql`) are UTF-8 encoded once and copied, from a bounded cache keyed by the string itself (a string's
 *   UTF-8 bytes depend on nothing else, so a cached entry is always right);
 * - trace and span ids go from hex straight into the buffer (upstream allocates a Uint8Array per id).
 */
import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { debug, describeError, warnOnce } from '../core/log';

/** Strings longer than this are encoded each time (URLs, ids, statements rarely repeat). */
const CACHE_MAX_STRING = 64;
/** Entries before the cache is cleared (bounded whatever the traffic): names and values, and attribute keys apart. */
const CACHE_MAX_ENTRIES = 4096;
const CACHE_MAX_KEYS = 1024;
const CACHE_MAX_STRINGS = CACHE_MAX_ENTRIES - CACHE_MAX_KEYS;
const MIN_64_BIT_INT = -(2 ** 63);
const MAX_64_BIT_INT = 2 ** 63;
const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK = 0x100;
const SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK = 0x200;
/** A hex digit's value by char code, what `nibble` computes (upstream's `hexToBinary` arithmetic) for codes < 128. */
const NIBBLE = new Uint8Array(128);
for (let c = 0; c < 128; c++) NIBBLE[c] = nibble(c) & 0xff;

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

export class LeanTraceEncoder {
  private _buf = new Uint8Array(1 << 16);
  private _view = new DataView(this._buf.buffer);
  private _pos = 0;
  /** Names and short values: their length-prefixed UTF-8 bytes. */
  private readonly _strings = new Map<string, Uint8Array>();
  /** Attribute keys: see `_keyPrefix`. */
  private readonly _keys = new Map<string, Uint8Array>();
  private readonly _encoder = new TextEncoder();

  /** The request bytes for `spans` (a fresh array the caller owns). */
  encode(spans: readonly ReadableSpan[]): Uint8Array {
    this._write(spans);
    return this._buf.slice(0, this._pos);
  }

  /** Number of strings in the cache (bounded by {@link CACHE_MAX_ENTRIES}). */
  get cachedStrings(): number {
    return this._strings.size + this._keys.size;
  }

  private _write(spans: readonly ReadableSpan[]): void {
    this._pos = 0;
    // Group by resource, then scope, in first-seen order (what upstream's Maps give).
    const resources = new Map<Resource, Map<Scope, ReadableSpan[]>>();
    for (const span of spans) {
      let scopes = resources.get(span.resource);
      if (scopes === undefined) resources.set(span.resource, (scopes = new Map()));
      let list = scopes.get(span.instrumentationScope);
      if (list === undefined) scopes.set(span.instrumentationScope, (list = []));
      list.push(span);
    }
    for (const [resource, scopes] of resources) {
      this._tag(1, 2);
      const rs = this._begin();
      this._tag(1, 2);
      const r = this._begin();
      this._attributes(resource.attributes, 1);
      this._tag(2, 0);
      this._varint(0);
      this._end(r);
      for (const list of scopes.values()) {
        this._tag(2, 2);
        const ss = this._begin();
        this._scope(list[0].instrumentationScope);
        for (const span of list) {
          this._tag(2, 2);
          this._span(span);
        }
        const schema = list[0].instrumentationScope.schemaUrl;
        if (schema) {
          this._tag(3, 2);
          this._text(schema);
        }
        this._end(ss);
      }
      if (resource.schemaUrl) {
        this._tag(3, 2);
        this._text(resource.schemaUrl);
      }
      this._end(rs);
    }
  }

  private _scope(scope: Scope): void {
    this._tag(1, 2);
    const s = this._begin();
    this._tag(1, 2);
    this._string(scope.name);
    if (scope.version) {
      this._tag(2, 2);
      this._string(scope.version);
    }
    const attrs = (scope as { attributes?: Attributes }).attributes;
    if (attrs) this._attributes(attrs, 3);
    const dropped = (scope as { droppedAttributesCount?: number }).droppedAttributesCount;
    if (dropped) {
      this._tag(4, 0);
      this._varint(dropped);
    }
    this._end(s);
  }

  private _span(span: ReadableSpan): void {
    const start = this._begin();
    const ctx = span.spanContext();
    this._tag(1, 2);
    this._hex(ctx.traceId);
    this._tag(2, 2);
    this._hex(ctx.spanId);
    const traceState = ctx.traceState?.serialize();
    if (traceState) {
      this._tag(3, 2);
      this._text(traceState);
    }
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      this._tag(4, 2);
      this._hex(parent.spanId);
    }
    this._tag(5, 2);
    this._string(span.name);
    const kind = span.kind == null ? 0 : span.kind + 1;
    if (kind !== 0) {
      this._tag(6, 0);
      this._varint(kind);
    }
    this._tag(7, 1);
    this._time(span.startTime);
    this._tag(8, 1);
    this._time(span.endTime);
    if (span.attributes) this._attributes(span.attributes, 9);
    this._tag(10, 0);
    this._varint(span.droppedAttributesCount);
    for (const event of span.events) {
      this._tag(11, 2);
      const e = this._begin();
      this._tag(1, 1);
      this._time(event.time);
      this._tag(2, 2);
      this._string(event.name);
      if (event.attributes) this._attributes(event.attributes, 3);
      this._tag(4, 0);
      this._varint(event.droppedAttributesCount || 0);
      this._end(e);
    }
    this._tag(12, 0);
    this._varint(span.droppedEventsCount);
    for (const link of span.links) {
      this._tag(13, 2);
      const l = this._begin();
      this._tag(1, 2);
      this._hex(link.context.traceId);
      this._tag(2, 2);
      this._hex(link.context.spanId);
      const ts = link.context.traceState?.serialize();
      if (ts) {
        this._tag(3, 2);
        this._text(ts);
      }
      if (link.attributes) this._attributes(link.attributes, 4);
      this._tag(5, 0);
      this._varint(link.droppedAttributesCount || 0);
      this._tag(6, 5);
      this._fixed32(((link.context.traceFlags & 0xff) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | (link.context.isRemote ? SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK : 0)) >>> 0);
      this._end(l);
    }
    this._tag(14, 0);
    this._varint(span.droppedLinksCount);
    this._tag(15, 2);
    const st = this._begin();
    if (span.status.message) {
      this._tag(2, 2);
      this._text(span.status.message);
    }
    this._tag(3, 0);
    this._varint(span.status.code);
    this._end(st);
    this._tag(16, 5);
    this._fixed32(((ctx.traceFlags & 0xff) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | (parent?.isRemote ? SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK : 0)) >>> 0);
    this._end(start);
  }

  private _attributes(attributes: Attributes, field: number): void {
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
      this._tag(field, 2);
      const kv = this._begin();
      // KeyValue: its key field (tag, length, bytes) and the value's tag, copied as one cached run.
      this._keyPrefix(key);
      const v = this._begin();
      this._anyValue(attributes[key]);
      this._end(v);
      this._end(kv);
    }
  }

  private _anyValue(value: AttributeValue | undefined | Record<string, unknown> | Uint8Array): void {
    const t = typeof value;
    if (t === 'string') {
      this._tag(1, 2);
      this._text(value as string);
    } else if (t === 'boolean') {
      this._tag(2, 0);
      this._varint(value ? 1 : 0);
    } else if (t === 'number') {
      const n = value as number;
      if (Number.isInteger(n) && n >= MIN_64_BIT_INT && n < MAX_64_BIT_INT) {
        this._tag(3, 0);
        this._varint(n);
      } else {
        this._tag(4, 1);
        this._room(8);
        this._view.setFloat64(this._pos, n, true);
        this._pos += 8;
      }
    } else if (value instanceof Uint8Array) {
      this._tag(7, 2);
      this._varint(value.length);
      this._room(value.length);
      this._buf.set(value, this._pos);
      this._pos += value.length;
    } else if (Array.isArray(value)) {
      this._tag(5, 2);
      const a = this._begin();
      for (const item of value) {
        this._tag(1, 2);
        const i = this._begin();
        this._anyValue(item as AttributeValue);
        this._end(i);
      }
      this._end(a);
    } else if (t === 'object' && value != null) {
      this._tag(6, 2);
      const list = this._begin();
      const obj = value as Record<string, unknown>;
      for (const k in obj) {
        if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
        this._tag(1, 2);
        const kv = this._begin();
        this._tag(1, 2);
        this._string(k);
        this._tag(2, 2);
        const v = this._begin();
        this._anyValue(obj[k] as AttributeValue);
        this._end(v);
        this._end(kv);
      }
      this._end(list);
    }
  }

  // --- writer primitives -------------------------------------------------------------------------------------

  private _room(n: number): void {
    if (this._pos + n <= this._buf.length) return;
    let size = this._buf.length * 2;
    while (size < this._pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this._buf.subarray(0, this._pos));
    this._buf = next;
    this._view = new DataView(next.buffer);
  }

  /** Reserves one length byte; returns where the message's length goes. */
  private _begin(): number {
    this._room(1);
    return this._pos++;
  }

  /** Writes the length of the message begun at `at`, shifting it when the length needs more than one byte. */
  private _end(at: number): void {
    const len = this._pos - at - 1;
    if (len < 128) {
      this._buf[at] = len;
      return;
    }
    const size = len < 16384 ? 2 : len < 2097152 ? 3 : len < 268435456 ? 4 : 5;
    this._room(size - 1);
    this._buf.copyWithin(at + size, at + 1, this._pos);
    this._pos += size - 1;
    let v = len;
    let p = at;
    while (v > 127) {
      this._buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this._buf[p] = v;
  }

  private _tag(field: number, wire: number): void {
    this._varint((field << 3) | wire);
  }

  private _varint(value: number): void {
    this._room(10);
    const b = this._buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 127) {
        b[this._pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[this._pos++] = v;
      return;
    }
    // 64-bit (and negative: two's complement over 10 bytes), as upstream writes it.
    const abs = Math.abs(value);
    let low = abs >>> 0;
    let high = (abs / 4294967296) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      b[this._pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    b[this._pos++] = low & 0x7f;
  }

  private _fixed32(v: number): void {
    this._room(4);
    const b = this._buf;
    b[this._pos++] = v & 0xff;
    b[this._pos++] = (v >>> 8) & 0xff;
    b[this._pos++] = (v >>> 16) & 0xff;
    b[this._pos++] = (v >>> 24) & 0xff;
  }

  /** HrTime as fixed64 nanoseconds, split into 32-bit halves without losing precision (as upstream does). */
  private _time(t: HrTime): void {
    const seconds = t[0];
    const lowerSeconds = seconds & 0xffff;
    const upperSeconds = (seconds / 0x10000) >>> 0;
    const fromLower = lowerSeconds * 1e9;
    const fromUpper = upperSeconds * 1e9;
    const low32 = (fromLower >>> 0) + ((((fromUpper & 0xffff) * 0x10000) >>> 0)) + t[1];
    const low = low32 >>> 0;
    const high = (Math.floor(fromLower / 4294967296) + ((fromUpper / 0x10000) >>> 0) + Math.floor(low32 / 4294967296)) >>> 0;
    this._fixed32(low);
    this._fixed32(high);
  }

  /**
   * A hex id (trace or span) as its bytes, with their length. An odd trailing digit is left out, as upstream's
   * `hexToBinary` leaves it (its Uint8Array of length `length / 2` truncates, and the write past its end is lost);
   * a character that is not a hex digit gives the byte upstream's gives.
   */
  private _hex(hex: string): void {
    const n = hex.length >>> 1;
    this._varint(n);
    this._room(n);
    const b = this._buf;
    let p = this._pos;
    for (let i = 0; i < 2 * n; i += 2) {
      const hi = hex.charCodeAt(i);
      const lo = hex.charCodeAt(i + 1);
      b[p++] = hi < 128 && lo < 128 ? (NIBBLE[hi] << 4) | NIBBLE[lo] : (nibble(hi) << 4) | nibble(lo);
    }
    this._pos = p;
  }

  /** A name or key (they repeat on every span): its length and UTF-8 bytes, from the cache after the first time. */
  private _string(s: string): void {
    if (this._copyCached(this._strings, s)) return;
    const start = this._pos;
    this._text(s);
    this._remember(this._strings, CACHE_MAX_STRINGS, s, start);
  }

  /**
   * An attribute key as a KeyValue's first field and the tag of its second (`0x0a`, length, UTF-8 bytes, `0x12`),
   * from its own bounded cache (keys are few; values such as `GET` share `_strings` and must not evict them).
   */
  private _keyPrefix(key: string): void {
    if (this._copyCached(this._keys, key)) return;
    const start = this._pos;
    this._tag(1, 2);
    this._text(key);
    this._tag(2, 2);
    this._remember(this._keys, CACHE_MAX_KEYS, key, start);
  }

  /** Copies the bytes `cache` holds for `s`; false when it holds none (or `s` is too long to be cached). */
  private _copyCached(cache: Map<string, Uint8Array>, s: string): boolean {
    if (s.length > CACHE_MAX_STRING) return false;
    const bytes = cache.get(s);
    if (bytes === undefined) return false;
    this._copy(bytes);
    return true;
  }

  /** Keeps the bytes just written for `s` from `start` (a copy), clearing `cache` first when it holds `max`. */
  private _remember(cache: Map<string, Uint8Array>, max: number, s: string, start: number): void {
    if (s.length > CACHE_MAX_STRING) return;
    if (cache.size >= max) cache.clear();
    cache.set(s, this._buf.slice(start, this._pos));
  }

  /** Copies cached bytes in: a loop for the short runs they nearly all are (cheaper than `set`'s call). */
  private _copy(bytes: Uint8Array): void {
    const n = bytes.length;
    this._room(n);
    if (n > 32) {
      this._buf.set(bytes, this._pos);
      this._pos += n;
      return;
    }
    const b = this._buf;
    let p = this._pos;
    for (let i = 0; i < n; i++) b[p++] = bytes[i];
    this._pos = p;
  }

  /** A value (paths, ids, tenants rarely repeat): ASCII straight in, anything else encoded into the buffer. */
  private _text(s: string): void {
    const len = s.length;
    let i = 0;
    while (i < len && s.charCodeAt(i) < 128) i++;
    if (i === len) {
      this._varint(len);
      this._room(len);
      const b = this._buf;
      let p = this._pos;
      for (let k = 0; k < len; k++) b[p++] = s.charCodeAt(k);
      this._pos = p;
      return;
    }
    // UTF-8 length: 1 byte per ASCII unit, 2 below U+0800, 4 per valid surrogate pair, 3 otherwise (a lone
    // surrogate becomes U+FFFD, 3 bytes, as TextEncoder writes it).
    let n = i;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 4;
        i++;
      } else n += 3;
    }
    this._varint(n);
    this._room(n);
    this._encoder.encodeInto(s, this._buf.subarray(this._pos, this._pos + n));
    this._pos += n;
  }
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** What the upstream OTLP exporters' delegate calls (`ISerializer` of otlp-transformer 0.301). */
interface TraceSerializer {
  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

/**
 * Replaces `serializeRequest` of an upstream OTLP/HTTP protobuf trace exporter (`_delegate._serializer`,
 * otlp-exporter-base 0.301) with a {@link LeanTraceEncoder}; `deserializeResponse` stays upstream's, so partial
 * success is read as before. A batch the encoder fails on is serialized by upstream (one warning for the process,
 * nothing lost). Returns false, changing nothing, when the exporter has another shape or its serializer is not
 * `expected` (upstream's `ProtobufTraceSerializer`, the one whose bytes this encoder reproduces).
 */
export function installLeanTraceSerializer(exporter: object, expected: TraceSerializer): boolean {
  const delegate = (exporter as { _delegate?: { _serializer?: TraceSerializer } })._delegate;
  const inner = delegate?._serializer;
  if (delegate === undefined || inner !== expected || typeof inner.serializeRequest !== 'function') {
    debug("the OTLP trace exporter has an unexpected shape or serializer; its spans are encoded by upstream's serializer");
    return false;
  }
  const encoder = new LeanTraceEncoder();
  delegate._serializer = {
    serializeRequest: (spans) => {
      try {
        return encoder.encode(spans);
      } catch (err) {
        warnOnce('lean-trace-encoder', `the lean OTLP trace encoder failed (${describeError(err)}); upstream's serializer encodes such batches`);
        debug(`lean OTLP trace encoder: a batch of ${spans.length} spans encoded by upstream's serializer instead`);
        return inner.serializeRequest(spans);
      }
    },
    deserializeResponse: (data) => inner.deserializeResponse(data),
  };
  return true;
}

