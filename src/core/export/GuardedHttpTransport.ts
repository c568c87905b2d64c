import type { Agent, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { gzip } from 'node:zlib';
import { isWrapped } from '@opentelemetry/instrumentation';
import { debug } from '../log';
import { REASON_NETWORK, REASON_OTHER, REASON_REFUSED, REASON_TIMEOUT } from '../semconv';
import type { ExportAttempt, ExportGuard } from './ExportGuard';

/** What the OTLP exporters' transport answers (the shape of `@opentelemetry/otlp-exporter-base`'s ExportResponse). */
export type TransportResponse =
  | { status: 'success'; data?: Uint8Array }
  | { status: 'failure'; error: Error }
  | { status: 'retryable'; retryInMillis?: number; error?: Error };

/** The exporter's resolved HTTP settings (from `OTEL_EXPORTER_OTLP_*`: URL, headers, compression, certificates). */
export interface OtlpHttpParameters {
  url: string;
  headers: () => Record<string, string> | Promise<Record<string, string>>;
  compression?: string;
  agentFactory: (protocol: string) => Agent | Promise<Agent>;
  userAgent?: string;
}

const MAX_RETRIES = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH']);
const USER_AGENT = 'tenantscope (OTel-OTLP-Exporter-JavaScript)';

type RequestFunction = typeof httpRequest;

/**
 * `http.request` / `https.request` without the OpenTelemetry instrumentations' wrappers (shimmer's, which keep the
 * function they wrap in `__original`). An export runs with tracing suppressed, so an HTTP client instrumentation
 * would only parse the request, start a span that records nothing and bind its emitters, per export. Wrappers of
 * any other kind (a proxy agent library, a test's interceptor) are kept: they are not ours to skip.
 */
export function unwrappedRequest(fn: RequestFunction): RequestFunction {
  let f = fn;
  for (let i = 0; i < 8 && isWrapped(f); i++) f = (f as unknown as { __original: RequestFunction }).__original;
  return f;
}

/**
 * The OTLP/HTTP transport tenantscope puts under the upstream exporters, in place of their retrying transport.
 * Same protocol and settings (it uses the exporter's own resolved parameters), same retry policy for retryable
 * answers (429/502/503/504 and connection errors; backoff 1 s × 1.5 up to 5 s, at most 5 retries) but:
 * a hard deadline per export (a collector that drips one byte every 2 s cannot hold it), retry waits that never keep
 * the process alive, cancellation by its {@link ExportGuard} (at a shutdown deadline), and the exact failure reason
 * (`refused`, `timeout`, `http_503`, …) reported to the guard.
 */
export class GuardedHttpTransport {
  private _agent: Promise<Agent> | undefined;

  constructor(
    private readonly _params: OtlpHttpParameters,
    private readonly _guard: ExportGuard
  ) {}

  async send(data: Uint8Array, timeoutMillis: number): Promise<TransportResponse> {
    const attempt = this._guard.current;
    const deadline = Date.now() + timeoutMillis;
    let backoff = INITIAL_BACKOFF_MS;
    for (let retries = 0; ; retries++) {
      if (attempt?.aborted !== undefined) return { status: 'failure', error: new Error(`export abandoned (${attempt.aborted})`) };
      const r = await this._once(data, deadline - Date.now(), attempt);
      if (r.status !== 'retryable' || retries >= MAX_RETRIES) return r;
      const wait = r.retryInMillis ?? Math.min(backoff * (0.8 + Math.random() * 0.4), MAX_BACKOFF_MS);
      backoff = Math.min(backoff * 1.5, MAX_BACKOFF_MS);
      if (wait > deadline - Date.now()) return r;
      await this._sleep(wait, attempt);
    }
  }

  shutdown(): void {}

  private _sleep(ms: number, attempt: ExportAttempt | undefined): Promise<void> {
    return new Promise((resolve) => {
      // Unref'd: a retry wait never keeps the process alive (shutdown holds it, up to its deadline).
      const t = setTimeout(resolve, ms);
      t.unref();
      if (attempt !== undefined) {
        attempt.cancel = () => {
          clearTimeout(t);
          resolve();
        };
      }
    });
  }

  private async _once(data: Uint8Array, budget: number, attempt: ExportAttempt | undefined): Promise<TransportResponse> {
    const note = (reason: string | undefined, detail: string | undefined): void => {
      if (attempt === undefined || attempt.aborted !== undefined) return;
      if (reason !== undefined && detail !== undefined) {
        this._guard.noteFailure(attempt, reason, detail);
      } else {
        attempt.reason = undefined;
        attempt.detail = undefined;
      }
    };
    if (budget <= 0) {
      note(REASON_TIMEOUT, 'no time left for another attempt');
      return { status: 'failure', error: new Error('export deadline reached') };
    }
    let url: URL;
    let agent: Agent;
    let headers: Record<string, string>;
    let body: Uint8Array;
    try {
      url = new URL(this._params.url);
      agent = await (this._agent ??= Promise.resolve(this._params.agentFactory(url.protocol)));
      headers = { ...(await this._params.headers()) };
      headers['User-Agent'] = this._params.userAgent ? `${this._params.userAgent} ${USER_AGENT}` : USER_AGENT;
      body = data;
      if (this._params.compression === 'gzip') {
        body = await new Promise<Uint8Array>((resolve, reject) => gzip(data, (err, out) => (err ? reject(err) : resolve(out))));
        headers['Content-Encoding'] = 'gzip';
      }
    } catch (err) {
      note(REASON_OTHER, err instanceof Error ? err.message : String(err));
      return { status: 'failure', error: err instanceof Error ? err : new Error(String(err)) };
    }
    return new Promise<TransportResponse>((settle) => {
      let settled = false;
      const resolve = (r: TransportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        settle(r);
      };
      const timedOut = new Error(`no answer within ${Math.round(budget)} ms`);
      const cancelled = new Error('export abandoned');
      const send = unwrappedRequest(url.protocol === 'https:' ? httpsRequest : httpRequest);
      const req = send(url, { method: 'POST', headers, agent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            note(REASON_OTHER, 'response body too large');
            resolve({ status: 'failure', error: new Error('OTLP response body too large') });
            res.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code <= 299) {
            note(undefined, undefined);
            resolve({ status: 'success', data: Buffer.concat(chunks) });
            return;
          }
          const error = Object.assign(new Error(`HTTP ${code} ${res.statusMessage ?? ''}`.trim()), { code });
          note(`http_${code}`, error.message);
          if (RETRYABLE_STATUS.has(code)) resolve({ status: 'retryable', retryInMillis: retryAfter(res.headers['retry-after']), error });
          else resolve({ status: 'failure', error });
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          if (!res.complete) resolve({ status: 'retryable', error: new Error('response cut off') });
        });
      });
      const timer = setTimeout(() => {
        note(REASON_TIMEOUT, timedOut.message);
        req.destroy(timedOut);
        resolve({ status: 'retryable', error: timedOut });
      }, budget);
      timer.unref();
      if (attempt !== undefined) attempt.cancel = () => req.destroy(cancelled);
      req.on('error', (err: Error & { code?: string }) => {
        if (err === cancelled) {
          resolve({ status: 'failure', error: err });
          return;
        }
        if (err === timedOut) return;
        note(err.code === 'ECONNREFUSED' ? REASON_REFUSED : err.code !== undefined ? REASON_NETWORK : REASON_OTHER, `${err.code ?? err.name}: ${err.message}`);
        if (err.code !== undefined && RETRYABLE_CODES.has(err.code)) resolve({ status: 'retryable', error: err });
        else resolve({ status: 'failure', error: err });
      });
      req.end(body);
    });
  }
}

/** `Retry-After` in ms: seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfter(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number.parseInt(v, 10);
  if (Number.isInteger(s)) return Math.max(0, s * 1000);
  const t = new Date(v).getTime() - Date.now();
  return Number.isFinite(t) ? Math.max(0, t) : undefined;
}

/**
 * Puts a {@link GuardedHttpTransport} under an upstream OTLP/HTTP exporter (trace or metric, JSON or protobuf),
 * keeping its serializer, settings and response handling. Returns false, changing nothing, when the exporter does
 * not have the shape this was written against (`@opentelemetry/otlp-exporter-base` 0.301: delegate → retrying
 * transport → HTTP transport with its parameters); exports then still run one at a time under the guard.
 */
export function installGuardedTransport(exporter: object, guard: ExportGuard): boolean {
  const delegate = (exporter as { _delegate?: { _transport?: { _transport?: { _parameters?: unknown } } } })._delegate;
  const params = delegate?._transport?._transport?._parameters as Partial<OtlpHttpParameters> | undefined;
  if (
    delegate === undefined ||
    params === undefined ||
    typeof params.url !== 'string' ||
    typeof params.headers !== 'function' ||
    typeof params.agentFactory !== 'function'
  ) {
    debug('the OTLP exporter has an unexpected shape; its own transport is kept');
    return false;
  }
  (delegate as { _transport: unknown })._transport = new GuardedHttpTransport(params as OtlpHttpParameters, guard);
  return true;
}
