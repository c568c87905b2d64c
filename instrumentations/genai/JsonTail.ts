import { TextDecoder } from 'node:util';

/** Bodies up to this size are kept whole and parsed at their end. */
const FULL_LIMIT = 4 * 1024 * 1024;
/** Past it, only this much of the end is kept: usage sits at the end of large (embedding) responses. */
const TAIL = 256 * 1024;
/** Top-level fields read from the tail of a body too large to keep. */
const TAIL_FIELDS = ['usage', 'usageMetadata', 'model', 'modelVersion', 'id'];

/**
 * Collects a JSON response body as it passes to the caller, bounded: a body up to 4 MiB is parsed whole at its
 * end; a larger one (a big embeddings batch) keeps only its last 256 KiB, from which the usage object and model
 * are read. Chunks are kept by reference, not copied.
 */
export class JsonTail {
  private _chunks: Uint8Array[] = [];
  private _size = 0;
  private _tail = false;

  push(bytes: Uint8Array): void {
    this._chunks.push(bytes);
    this._size += bytes.byteLength;
    if (this._tail ? this._size > 2 * TAIL : this._size > FULL_LIMIT) {
      this._tail = true;
      const all = Buffer.concat(this._chunks, this._size);
      const keep = all.subarray(all.byteLength - TAIL);
      this._chunks = [keep];
      this._size = keep.byteLength;
    }
  }

  /** The body as an object (whole, or the fields read from its tail), or undefined when it is not JSON. */
  result(): Record<string, unknown> | undefined {
    const text = new TextDecoder().decode(Buffer.concat(this._chunks, this._size));
    this._chunks = [];
    if (!this._tail) {
      try {
        const v: unknown = JSON.parse(text);
        return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of TAIL_FIELDS) {
      const v = fieldFromTail(text, key);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }
}

/**
 * The value of the last `"key":` in `text` when it is an object or a string, or undefined. Objects are cut by
 * brace depth, skipping string contents, then parsed.
 */
export function fieldFromTail(text: string, key: string): unknown {
  const at = text.lastIndexOf(`"${key}"`);
  if (at === -1) return undefined;
  let i = at + key.length + 2;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  if (text[i] !== ':') return undefined;
  i++;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  const start = i;
  const open = text[i];
  if (open !== '{' && open !== '"') return undefined;
  let depth = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') {
        inString = false;
        if (open === '"') return parse(text.slice(start, i + 1));
      }
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return parse(text.slice(start, i + 1));
  }
  return undefined;
}

function parse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
