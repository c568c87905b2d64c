/**
 * A cheap, bounded summary of a SQL statement for metric labels: its operation (the first keyword) and the
 * table it names first, never a literal. The scan skips comments, string literals and parenthesised
 * sub-expressions, and reads at most {@link MAX_SCAN} characters, so a hostile statement costs little.
 */

/** Characters of a statement looked at. */
const MAX_SCAN = 4096;
/** Longest identifier kept (PostgreSQL's NAMEDATALEN - 1). */
const MAX_IDENT = 63;

/** Operations kept as they are; any other first keyword is reported as `_OTHER` by the caller's bound. */
export const SQL_OPERATIONS = new Set([
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'UPSERT', 'WITH', 'VALUES', 'TABLE', 'CALL', 'DO', 'COPY',
  'CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'GRANT', 'REVOKE', 'COMMENT',
  'BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'PREPARE', 'EXECUTE', 'DEALLOCATE',
  'DECLARE', 'FETCH', 'MOVE', 'CLOSE', 'LOCK', 'LISTEN', 'NOTIFY', 'UNLISTEN', 'SET', 'RESET', 'SHOW',
  'EXPLAIN', 'ANALYZE', 'VACUUM', 'REFRESH', 'REINDEX', 'CLUSTER', 'DISCARD',
]);

/** What a statement's labels come from: `operation` upper-case ('' when none), `table` ('' when none is named). */
export interface StatementSummary {
  readonly operation: string;
  readonly table: string;
}

/** Keyword after which the table of each operation is named. */
const TABLE_AFTER: Record<string, string> = {
  SELECT: 'FROM',
  DELETE: 'FROM',
  INSERT: 'INTO',
  MERGE: 'INTO',
  UPSERT: 'INTO',
  COPY: '',
  UPDATE: '',
  TRUNCATE: '',
  TABLE: '',
};
/** Words that may stand between the keyword and the table (`UPDATE ONLY t`, `TRUNCATE TABLE t`). */
const SKIP_WORDS = new Set(['ONLY', 'TABLE', 'LATERAL']);

/** Summarises `text`; pure. */
export function summarizeStatement(text: string): StatementSummary {
  const s = new Scanner(text);
  const first = s.word();
  if (first === undefined) return { operation: '', table: '' };
  const operation = first.toUpperCase();
  const after = TABLE_AFTER[operation];
  if (after === undefined) return { operation, table: '' };
  if (after !== '' && !s.seekKeyword(after)) return { operation, table: '' };
  return { operation, table: s.tableName() };
}

class Scanner {
  private _i = 0;
  private readonly _end: number;

  constructor(private readonly _t: string) {
    this._end = Math.min(_t.length, MAX_SCAN);
  }

  /** Skips white space and comments. */
  private _space(): void {
    const t = this._t;
    while (this._i < this._end) {
      const c = t.charCodeAt(this._i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) this._i++;
      else if (c === 45 /* - */ && t.charCodeAt(this._i + 1) === 45) {
        const nl = t.indexOf('\n', this._i);
        this._i = nl === -1 ? this._end : nl + 1;
      } else if (c === 47 /* / */ && t.charCodeAt(this._i + 1) === 42 /* * */) {
        const close = t.indexOf('*/', this._i + 2);
        this._i = close === -1 ? this._end : close + 2;
      } else return;
    }
  }

  /** The bare word at the cursor (letters, digits, `_`), or undefined. */
  word(): string | undefined {
    this._space();
    const start = this._i;
    while (this._i < this._end && isWordChar(this._t.charCodeAt(this._i))) this._i++;
    return this._i > start ? this._t.slice(start, this._i) : undefined;
  }

  /** Moves past the first top-level occurrence of keyword `kw` (upper-case); false when there is none. */
  seekKeyword(kw: string): boolean {
    const t = this._t;
    let depth = 0;
    while (this._i < this._end) {
      this._space();
      if (this._i >= this._end) return false;
      const c = t.charCodeAt(this._i);
      if (c === 39 /* ' */ || c === 34 /* " */ || c === 96 /* ` */) {
        this._skipQuoted(c);
      } else if (c === 36 /* $ */) {
        this._skipDollar();
      } else if (c === 40 /* ( */) {
        depth++;
        this._i++;
      } else if (c === 41 /* ) */) {
        depth--;
        this._i++;
      } else if (isWordChar(c)) {
        const start = this._i;
        while (this._i < this._end && isWordChar(t.charCodeAt(this._i))) this._i++;
        if (depth === 0 && this._i - start === kw.length && t.slice(start, this._i).toUpperCase() === kw) return true;
      } else {
        this._i++;
      }
    }
    return false;
  }

  /** The (possibly schema-qualified, possibly quoted) table name at the cursor, or '' when there is none. */
  tableName(): string {
    let w = this._ident();
    while (w !== undefined && SKIP_WORDS.has(w.toUpperCase())) w = this._ident();
    if (w === undefined) return '';
    let name = w;
    while (this._t.charCodeAt(this._i) === 46 /* . */) {
      this._i++;
      const part = this._ident();
      if (part === undefined) return '';
      name += '.' + part;
    }
    return name.length > 2 * MAX_IDENT + 1 ? '' : name;
  }

  /** An identifier: a bare word (folded to lower case, as PostgreSQL does) or a double-quoted name. */
  private _ident(): string | undefined {
    this._space();
    const t = this._t;
    if (t.charCodeAt(this._i) === 34 /* " */) {
      const close = t.indexOf('"', this._i + 1);
      if (close === -1 || close >= this._end || close - this._i - 1 > MAX_IDENT || close === this._i + 1) return undefined;
      const name = t.slice(this._i + 1, close);
      this._i = close + 1;
      return /^[\x20-\x7e]+$/.test(name) ? name : undefined;
    }
    const start = this._i;
    const c = t.charCodeAt(start);
    // An identifier starts with a letter or `_`: `FROM (`, `FROM $1`, `FROM 'x'` name no table.
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95)) return undefined;
    while (this._i < this._end && (isWordChar(t.charCodeAt(this._i)) || t.charCodeAt(this._i) === 36)) this._i++;
    if (this._i - start > MAX_IDENT) return undefined;
    return t.slice(start, this._i).toLowerCase();
  }

  private _skipQuoted(q: number): void {
    const t = this._t;
    this._i++;
    while (this._i < this._end) {
      const c = t.charCodeAt(this._i++);
      if (c === q) {
        if (t.charCodeAt(this._i) === q) this._i++; // doubled quote
        else return;
      }
    }
  }

  /** `$tag$ … $tag$` bodies; `$1` parameters are skipped as a word. */
  private _skipDollar(): void {
    const t = this._t;
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(t.slice(this._i, this._i + 66));
    if (m === null) {
      this._i++;
      return;
    }
    const close = t.indexOf(m[0], this._i + m[0].length);
    this._i = close === -1 ? this._end : close + m[0].length;
  }
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
