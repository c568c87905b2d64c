import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  MetricReader,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { describeError, error as logError, debug } from '../core/log';
import { escapeLabelValue, formatNumber, promLabelName, type Exemplars } from '../core/metrics/MetricFamily';
import type { MetricStore } from '../core/metrics/MetricStore';
import { prometheusName } from './naming';
import type { OwnServers } from '../core/OwnServers';

export interface PrometheusServerOptions {
  host: string;
  port: number;
  /** tenantscope's pre-aggregated families, serialised in time slices. */
  store: MetricStore;
  /** Where the server registers itself as ours, so the HTTP instrumentation ignores its requests. */
  ownServers?: OwnServers;
  /** Longest stretch of serialisation before yielding to the event loop. */
  sliceMillis?: number;
  /** A finished exposition younger than this is served again instead of serialising anew (default 1000 ms). */
  cacheMillis?: number;
  /** Scrapes answered at once (default 4); more wait in a queue of `maxQueued` (default 64), past it: 503. */
  maxConcurrent?: number;
  maxQueued?: number;
  /** Least time between the starts of two answers, so a scrape storm cannot take the event loop (default 100 ms). */
  minIntervalMillis?: number;
  /**
   * Bytes per second answers may start at, over all scrapers (default 8 MB/s): the interval between two answers
   * grows with the exposition's size (a 10 MB one: 1.25 s), so a storm never costs more than that much writing.
   */
  maxBytesPerSecond?: number;
  /** A scraper that takes nothing for this long is cut off (default 10 s); no answer takes longer than `maxAnswerMillis` (default 30 s). */
  idleTimeoutMillis?: number;
  maxAnswerMillis?: number;
}

/** One serialisation, shared by every scrape that arrives while it runs or within the cache time after it. */
interface Exposition {
  readonly chunks: Buffer[];
  done: boolean;
  /** Every reader left before the end: the serialisation stopped, and this exposition is incomplete. */
  stopped: boolean;
  error: unknown;
  readers: number;
  finishedAt: number;
  /** Wakes the readers waiting for the next chunk. */
  wake: Set<() => void>;
}

/**
 * The two exposition formats: the Prometheus text format (the default), and OpenMetrics 1.0 for a scraper that asks
 * for it (`Accept: application/openmetrics-text`, as Prometheus does), which also carries the duration histograms'
 * exemplars (trace ids of exported spans).
 */
export type ExpositionFormat = 'text' | 'openmetrics';
const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};
/** Characters per written chunk (about 64 KB of text): one chunk's encode and write stay well under 1 ms. */
const CHUNK_CHARS = 64 * 1024;

/**
 * A pull reader serving `/metrics` in the Prometheus text format. Unlike the stock exporter it serialises in
 * short slices and yields to the event loop between them, so a scrape of tens of thousands of series never
 * stalls the app (see bench/scrape.bench.ts). Names follow the Collector's translation (see naming.ts).
 */
export class PrometheusServer extends MetricReader {
  private readonly _server: Server;
  private readonly _store: MetricStore;
  private readonly _sliceMillis: number;
  private readonly _listening: Promise<number | undefined>;
  private readonly _limits: Required<Omit<PrometheusServerOptions, 'host' | 'port' | 'store' | 'ownServers' | 'sliceMillis'>>;
  /** The exposition in progress or cached, per format. */
  private readonly _shared: Record<ExpositionFormat, Exposition | undefined> = { text: undefined, openmetrics: undefined };
  private readonly _waiting: ServerResponse[] = [];
  private _answering = 0;
  private _lastStart = -Infinity;
  /** Size of the last complete exposition (paces answers, see `maxBytesPerSecond`). */
  private _lastBytes = 0;
  private _pacer: NodeJS.Timeout | undefined;

  constructor(options: PrometheusServerOptions) {
    super();
    this._store = options.store;
    this._sliceMillis = options.sliceMillis ?? 8;
    this._limits = {
      cacheMillis: options.cacheMillis ?? 1000,
      maxConcurrent: options.maxConcurrent ?? 4,
      maxQueued: options.maxQueued ?? 64,
      minIntervalMillis: options.minIntervalMillis ?? 100,
      maxBytesPerSecond: options.maxBytesPerSecond ?? 8 * 1024 * 1024,
      idleTimeoutMillis: options.idleTimeoutMillis ?? 10_000,
      maxAnswerMillis: options.maxAnswerMillis ?? 30_000,
    };
    this._server = createServer((req, res) => this._handle(req, res));
    // Slow or silent clients cannot hold a socket: headers within 10 s, an idle keep-alive socket closes after 5 s.
    this._server.headersTimeout = 10_000;
    this._server.requestTimeout = 15_000;
    options.ownServers?.mark(this._server);
    // Our server must never keep the app alive.
    this._server.unref();
    this._listening = new Promise((resolve) => {
      this._server.once('error', (err) => {
        logError(`Prometheus endpoint could not listen on ${options.host}:${options.port}; /metrics is off`, err);
        resolve(undefined);
      });
      this._server.listen(options.port, options.host, () => {
        const addr = this._server.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : undefined;
        debug(`Prometheus endpoint listening on ${options.host}:${port}/metrics`);
        resolve(port);
      });
    });
  }

  /** The port actually bound (useful with port 0), or undefined if listening failed. */
  get port(): Promise<number | undefined> {
    return this._listening;
  }

  protected override async onForceFlush(): Promise<void> {}

  protected override async onShutdown(): Promise<void> {
    if (this._pacer !== undefined) clearTimeout(this._pacer);
    for (const res of this._waiting.splice(0)) res.destroy();
    await new Promise<void>((resolve) => {
      this._server.close(() => resolve());
      this._server.closeAllConnections?.();
    });
  }

  /** Scrapes being answered now (for tests and self-checks). */
  get answering(): number {
    return this._answering;
  }

  private _handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.statusCode = 404;
      res.end('Not found. Metrics are served at /metrics\n');
      return;
    }
    // A scrape that takes too long overall (waiting in line included) is cut off.
    const cap = setTimeout(() => res.destroy(), this._limits.maxAnswerMillis);
    cap.unref();
    res.once('close', () => {
      clearTimeout(cap);
      const i = this._waiting.indexOf(res);
      if (i !== -1) this._waiting.splice(i, 1);
    });
    if (this._waiting.length >= this._limits.maxQueued) {
      res.statusCode = 503;
      res.setHeader('Retry-After', '1');
      res.end('Too many scrapes at once\n');
      return;
    }
    this._waiting.push(res);
    this._pump();
  }

  /**
   * Starts waiting answers while fewer than `maxConcurrent` run, at most one per `minIntervalMillis`: a storm of
   * scrapers then waits in line (each looping scraper is held, not answered at once) instead of taking the loop.
   */
  private _pump(): void {
    while (this._waiting.length > 0 && this._answering < this._limits.maxConcurrent) {
      const interval = Math.max(this._limits.minIntervalMillis, (this._lastBytes * 1000) / this._limits.maxBytesPerSecond);
      const wait = this._lastStart + interval - performance.now();
      if (wait > 0) {
        if (this._pacer === undefined) {
          this._pacer = setTimeout(() => {
            this._pacer = undefined;
            this._pump();
          }, wait);
          this._pacer.unref();
        }
        return;
      }
      const res = this._waiting.shift() as ServerResponse;
      this._lastStart = performance.now();
      this._answering++;
      void this._answer(res, negotiate(res.req.headers.accept))
        .catch((err) => logError('serving /metrics failed', err))
        .finally(() => {
          this._answering--;
          this._pump();
        });
    }
  }

  /** Writes the shared exposition to `res`, honouring backpressure; stops when the client is gone. */
  private async _answer(res: ServerResponse, format: ExpositionFormat): Promise<void> {
    if (res.destroyed) return;
    // A client that stops reading (or never reads) is cut off.
    res.setTimeout(this._limits.idleTimeoutMillis, () => res.destroy());
    res.setHeader('Content-Type', CONTENT_TYPES[format]);
    res.setHeader('Vary', 'Accept');
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    const e = this._exposition(format);
    e.readers++;
    try {
      let i = 0;
      for (;;) {
        if (res.destroyed) return;
        if (i < e.chunks.length) {
          // Honour backpressure: chunks written past a full socket buffer pile up (bench/scrape.bench.ts).
          if (!res.write(e.chunks[i++]) && !(await drained(res))) return;
          continue;
        }
        if (e.done) break;
        await new Promise<void>((resolve) => e.wake.add(resolve));
      }
      if (e.error !== undefined) {
        if (!res.headersSent) res.statusCode = 500;
        res.end(`# error: ${describeError(e.error)}\n`);
        return;
      }
      res.end();
    } finally {
      e.readers--;
    }
  }

  /** The exposition in progress or finished less than `cacheMillis` ago, else a new one (serialised once). */
  private _exposition(format: ExpositionFormat): Exposition {
    const cur = this._shared[format];
    if (cur !== undefined && !cur.stopped && cur.error === undefined && (!cur.done || performance.now() - cur.finishedAt < this._limits.cacheMillis)) {
      return cur;
    }
    const e: Exposition = { chunks: [], done: false, stopped: false, error: undefined, readers: 0, finishedAt: 0, wake: new Set() };
    this._shared[format] = e;
    const wake = (): void => {
      const w = [...e.wake];
      e.wake.clear();
      for (const f of w) f();
    };
    void this.serialize((chunk) => {
      // Nobody is reading any more (every scraper hung up): stop rather than serialise for no one.
      if (e.readers === 0) {
        e.stopped = true;
        return Promise.resolve(false);
      }
      e.chunks.push(Buffer.from(chunk, 'utf8'));
      wake();
      return undefined;
    }, format)
      .catch((err: unknown) => {
        logError('serving /metrics failed', err);
        e.error = err;
      })
      .finally(() => {
        e.done = true;
        e.finishedAt = performance.now();
        if (!e.stopped) this._lastBytes = e.chunks.reduce((n, c) => n + c.length, 0);
        wake();
      });
    return e;
  }

  /**
   * Writes the whole exposition through `write`, yielding to the event loop between slices; when `write`
   * returns a promise (a full socket), the next slice waits for it, and stops if it resolves to `false`.
   */
  async serialize(write: (chunk: string) => void | Promise<boolean>, format: ExpositionFormat = 'text'): Promise<void> {
    try {
      await this._serialize(write, format);
    } catch (err) {
      if (err !== STOP) throw err;
    }
  }

  private async _serialize(write: (chunk: string) => void | Promise<boolean>, format: ExpositionFormat): Promise<void> {
    const om = format === 'openmetrics';
    // The SDK's instruments and our observed gauges are read at the same time (observers bound their own time).
    const [{ resourceMetrics, errors }] = await Promise.all([this.collect(), this._store.refresh()]);
    if (errors.length > 0) debug(`metric collection reported ${errors.length} error(s)`);
    let buf = targetInfo(resourceMetrics, om);
    buf += sdkMetricsText(resourceMetrics, om);
    let sliceStart = performance.now();
    // `buf +=` only links strings (a rope): the real cost, flattening and encoding, is paid when a chunk is
    // written. So chunks are bounded by size, and the slice clock runs across writes (bench/scrape.bench.ts:
    // time-only slicing let 5–20 MB chunks through, one synchronous encode each, 0.1–0.4 s stalls).
    const flushMaybe = async (): Promise<void> => {
      if (buf.length < CHUNK_CHARS) return;
      const pending = write(buf);
      buf = '';
      // A drain can arrive in a nextTick (loopback writes complete synchronously), which never returns to
      // the event loop: the slice clock decides the yield either way.
      if (pending !== undefined && !(await pending)) throw STOP;
      if (performance.now() - sliceStart < this._sliceMillis) return;
      await yieldToLoop();
      sliceStart = performance.now();
    };
    for (const f of this._store.counters) {
      if (f.series.length === 0) continue;
      const name = prometheusName(f.spec.name, f.spec.unit, 'counter');
      buf += header(name, f.spec.description, 'counter', om);
      for (let i = 0; i < f.series.length; i++) {
        const s = f.series[i];
        buf += `${name}${s.labelText} ${formatNumber(s.value)}\n`;
        await flushMaybe();
      }
    }
    for (const f of this._store.histograms) {
      if (f.series.length === 0) continue;
      const name = prometheusName(f.spec.name, f.spec.unit, 'histogram');
      buf += header(name, f.spec.description, 'histogram', om);
      const ex = om ? f.exemplars : undefined;
      for (let i = 0; i < f.series.length; i++) {
        const s = f.series[i];
        buf += histogramText(name, s.labelText, f.leText, s, ex, ex === undefined ? 0 : s.exemplarRow);
        await flushMaybe();
      }
    }
    for (const f of this._store.gauges) {
      let started = false;
      let name = '';
      for (let i = 0; i < f.series.length; i++) {
        const s = f.series[i];
        if (Number.isNaN(s.value)) continue;
        if (!started) {
          started = true;
          name = prometheusName(f.spec.name, f.spec.unit, 'gauge');
          buf += header(name, f.spec.description, 'gauge', om);
        }
        buf += `${name}${s.labelText} ${formatNumber(s.value)}\n`;
        await flushMaybe();
      }
    }
    // The last chunk: the caller ends the response next, whether or not the socket has drained.
    void write(om ? buf + '# EOF\n' : buf);
  }
}

/**
 * The format a scrape asks for in its Accept header: OpenMetrics when an `application/openmetrics-text` range
 * (version 1.0.0 or 0.0.1, or none) is acceptable and weighs at least as much as the text format; else text.
 */
export function negotiate(accept: string | undefined): ExpositionFormat {
  if (accept === undefined || !accept.includes('openmetrics')) return 'text';
  let om = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const p of params) {
      if (p.startsWith('q=')) q = Number(p.slice(2));
      else if (p.startsWith('version=')) version = p.slice(8);
    }
    if (!(q >= 0 && q <= 1)) continue;
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0' || version === '0.0.1')) om = Math.max(om, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'text';
}

/** Resolves true when `res` can take more data, false when it is gone. */
function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
    };
    const onDrain = (): void => {
      done();
      resolve(true);
    };
    const onClose = (): void => {
      done();
      resolve(false);
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** Thrown inside serialize() when the consumer is gone; caught there, never escapes. */
const STOP = Symbol('tenantscope.prometheus.stop');

/**
 * HELP and TYPE lines of a family. In OpenMetrics a counter family is named without its samples' `_total`, and help
 * text escapes `"` too.
 */
function header(name: string, help: string, type: string, om = false): string {
  let h = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  if (om) {
    h = h.replace(/"/g, '\\"');
    if (type === 'counter' && name.endsWith('_total')) name = name.slice(0, -6);
  }
  return `# HELP ${name} ${h}\n# TYPE ${name} ${type}\n`;
}

function labels(attrs: Attributes, extra?: string): string {
  const parts: string[] = [];
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === undefined || v === null) continue;
    parts.push(`${promLabelName(k)}="${escapeLabelValue(Array.isArray(v) ? JSON.stringify(v) : String(v))}"`);
  }
  if (extra !== undefined) parts.push(extra);
  return parts.join(',');
}

/** The counts of one histogram series: per bucket (not cumulative), sum and count. */
interface HistogramCounts {
  bucket(i: number): number;
  readonly sum: number;
  readonly count: number;
}

/**
 * One histogram series in the text format: cumulative `_bucket` lines for every `le`, then `_sum` and `_count`.
 * `labelText` is `a="x",b="y"` without braces ('' when unlabelled). Used for our store's families and the SDK's.
 * With `ex` (OpenMetrics only), a bucket holding an exemplar gets it after its count: `# {trace_id="…",span_id="…"}
 * value timestamp` (seconds), the span's own value in that bucket.
 */
function histogramText(name: string, labelText: string, le: readonly string[], h: HistogramCounts, ex?: Exemplars, row = 0): string {
  const sep = labelText === '' ? '' : ',';
  let out = '';
  let cum = 0;
  for (let b = 0; b < le.length; b++) {
    cum += h.bucket(b);
    out += `${name}_bucket{${labelText}${sep}le="${le[b]}"} ${cum}`;
    if (ex !== undefined && ex.has(row + b)) {
      const e = ex.at(row + b);
      out += ` # {trace_id="${e.traceId}",span_id="${e.spanId}"} ${formatNumber(e.value)} ${(e.timeMs / 1000).toFixed(3)}`;
    }
    out += '\n';
  }
  const braces = braced(labelText);
  return out + `${name}_sum${braces} ${formatNumber(h.sum)}\n${name}_count${braces} ${h.count}\n`;
}

function braced(l: string): string {
  return l === '' ? '' : `{${l}}`;
}

function targetInfo(rm: ResourceMetrics, om: boolean): string {
  const l = labels(rm.resource.attributes);
  // OpenMetrics has an info type for it (family `target`, sample `target_info`), as the Collector's exporter writes.
  return om ? `# HELP target Target metadata\n# TYPE target info\ntarget_info{${l}} 1\n` : `# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{${l}} 1\n`;
}

/**
 * Text for the SDK's own instruments (few series: upstream instrumentations' metrics, user metrics). Several
 * scopes can record one instrument name (the http and undici instrumentations both record
 * `http.client.request.duration`); the text format allows one HELP/TYPE block per name, so their points are
 * written as one family, as the Collector's exporter does. A same-named metric of another type is skipped.
 */
function sdkMetricsText(rm: ResourceMetrics, om: boolean): string {
  const families = new Map<string, { type: string; help: string; body: string }>();
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      const f = metricText(m);
      if (f === undefined) continue;
      const seen = families.get(f.name);
      if (seen === undefined) families.set(f.name, f);
      else if (seen.type === f.type) seen.body += f.body;
      else debug(`metric ${f.name} is recorded as both ${seen.type} and ${f.type}; the ${f.type} is not served`);
    }
  }
  let out = '';
  for (const [name, f] of families) out += header(name, f.help, f.type, om) + f.body;
  return out;
}

function metricText(m: MetricData): { name: string; type: string; help: string; body: string } | undefined {
  const d = m.descriptor;
  let out = '';
  if (m.dataPointType === DataPointType.SUM) {
    const kind = m.isMonotonic ? 'counter' : 'gauge';
    const name = prometheusName(d.name, d.unit, kind);
    for (const p of m.dataPoints) out += `${name}${braced(labels(p.attributes))} ${formatNumber(p.value)}\n`;
    return { name, type: kind, help: d.description, body: out };
  } else if (m.dataPointType === DataPointType.GAUGE) {
    const name = prometheusName(d.name, d.unit, 'gauge');
    for (const p of m.dataPoints) out += `${name}${braced(labels(p.attributes))} ${formatNumber(p.value)}\n`;
    return { name, type: 'gauge', help: d.description, body: out };
  } else if (m.dataPointType === DataPointType.HISTOGRAM) {
    const name = prometheusName(d.name, d.unit, 'histogram');
    for (const p of m.dataPoints) {
      const h = p.value as Histogram;
      const le = [...h.buckets.boundaries.map(formatNumber), '+Inf'];
      out += histogramText(name, labels(p.attributes), le, { bucket: (i) => h.buckets.counts[i] ?? 0, sum: h.sum ?? 0, count: h.count });
    }
    return { name, type: 'histogram', help: d.description, body: out };
  }
  return undefined;
}
