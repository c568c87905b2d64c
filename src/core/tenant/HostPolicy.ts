import { isIP } from 'node:net';

const MEMO_LIMIT = 2000;
const PRIVATE_SUFFIXES = ['.svc', '.cluster.local', '.internal', '.local', '.localhost', '.lan', '.home.arpa'];

/**
 * Decides which outbound hosts are "internal" and may receive the tenant as baggage. Patterns: `private`
 * (loopback, RFC 1918 / unique-local addresses, single-label names such as compose service names, and
 * cluster suffixes), `*` (every host), `*.suffix`, or an exact host name.
 */
export class HostPolicy {
  private readonly _all: boolean;
  private readonly _private: boolean;
  private readonly _exact = new Set<string>();
  private readonly _suffixes: string[] = [];
  private readonly _memo = new Map<string, boolean>();

  constructor(patterns: readonly string[]) {
    this._all = patterns.includes('*');
    this._private = patterns.includes('private');
    for (const p of patterns) {
      if (p.startsWith('*.')) this._suffixes.push(p.slice(1));
      else if (p !== '*' && p !== 'private') this._exact.add(p);
    }
  }

  /** True when `host` may receive tenant baggage. An unknown destination is never internal. */
  isInternal(host: unknown): boolean {
    if (typeof host !== 'string' || host === '') return false;
    if (this._all) return true;
    let r = this._memo.get(host);
    if (r === undefined) {
      r = this._decide(host.toLowerCase().replace(/^\[|\]$/g, ''));
      if (this._memo.size >= MEMO_LIMIT) this._memo.clear();
      this._memo.set(host, r);
    }
    return r;
  }

  private _decide(h: string): boolean {
    if (this._exact.has(h)) return true;
    for (const s of this._suffixes) if (h.endsWith(s)) return true;
    if (!this._private) return false;
    if (h === 'localhost') return true;
    const v = isIP(h);
    if (v === 4) {
      const [a, b] = h.split('.').map(Number);
      return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
    }
    if (v === 6) return h === '::1' || /^f[cd]/.test(h);
    if (!h.includes('.')) return true;
    for (const s of PRIVATE_SUFFIXES) if (h.endsWith(s)) return true;
    return false;
  }
}
