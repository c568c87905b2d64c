/**
 * OTLP/protobuf trace encoding (issue 11, "Encoding"): upstream's `ProtobufTraceSerializer` (otlp-transformer 0.301,
 * what upstream's OTLP/protobuf trace exporter runs on every batch) against tenantscope's encoder,
 * src/export/LeanTraceEncoder.ts (the serializer of that exporter under tenantscope unless
 * TENANTSCOPE_OTLP_TRACE_ENCODER=upstream), on the same batches of real SDK spans.
 *
 * Spans: per request one HTTP server span with the attributes instrumentation-http 0.301 sets (stable semconv) and
 * tenant.id, one pg client span and one ioredis client span, three instrumentation scopes, one resource with the
 * attributes tenantscope's resource carries. Batches of 512 spans (the batch span processor's default).
 * Checked before timing: both produce the same bytes for every batch.
 *
 * CPU time (`process.threadCpuUsage`) per span, median of BENCH_ROUNDS (15) interleaved rounds.
 * `npx node --expose-gc build/bench/encode.bench.js`.
 *
 * Instructions instead of time (the machine is shared): `BENCH_ENCODE_ONLY=none|lean|upstream` builds
 * BENCH_ENCODE_BATCHES (40) batches of 513 fresh spans one after the other (so the live heap stays small, as in
 * a server) and encodes each with that serializer only, from a cold start; run it under
 * `valgrind --tool=callgrind` and subtract the `none` run's instructions from the others:
 * `BENCH_ENCODE_ONLY=lean valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p "$(npx node -p process.execPath)" build/bench/encode.bench.js`.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { CollectingProcessor, emit, gc, median, prng, type BenchRow } from './harness';
import { LeanTraceEncoder } from '../src/export/LeanTraceEncoder';

const REQUESTS = Number(process.env.BENCH_ENCODE_REQUESTS ?? 3000);
const BATCH = 512;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

/** One resource, three scopes, a server span and two client spans per request, as the hello/pg+redis servers make. */
export function buildEncodeSpans(requests = REQUESTS, seed = 11): ReadableSpan[] {
  const rand = prng(seed);
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'chat-api',
      'service.version': '1.4.2',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '3.1.1',
      'host.name': 'chat-api-7d9f8b6c4-x2k9p',
      'host.arch': 'amd64',
      'process.pid': 4242,
      'process.executable.name': 'node',
      'process.runtime.name': 'nodejs',
      'process.runtime.version': '24.21.0',
    }),
    spanProcessors: [collector],
  });
  const http = provider.getTracer('@opentelemetry/instrumentation-http', '0.301.0');
  const pg = provider.getTracer('@opentelemetry/instrumentation-pg', '0.77.0');
  const redis = provider.getTracer('@opentelemetry/instrumentation-ioredis', '0.72.0');
  for (let i = 0; i < requests; i++) {
    const id = Math.floor(rand() * 5000);
    const tenant = `tenant-${String(Math.floor(rand() * 1000)).padStart(4, '0')}`;
    const status = rand() < 0.97 ? 200 : 500;
    const server = http.startSpan('GET', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.scheme': 'http',
        'url.path': `/v1/conversations/${id}`,
        'server.address': '127.0.0.1',
        'server.port': 8080,
        'user_agent.original': 'autocannon/8.0.0',
        'network.peer.address': '127.0.0.1',
        'network.peer.port': 40000 + (i % 32),
        'network.protocol.version': '1.1',
        'client.address': '127.0.0.1',
      },
    });
    const ctx = trace.setSpan(ROOT_CONTEXT, server);
    const q = pg.startSpan(
      'pg.query:SELECT bench',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': 'bench',
          'db.query.text': 'SELECT $1::int AS n',
          'server.address': '127.0.0.1',
          'server.port': 5432,
          'db.operation.name': 'SELECT',
          'tenant.id': tenant,
        },
      },
      ctx
    );
    q.end();
    const g = redis.startSpan(
      'get',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system.name': 'redis', 'db.query.text': `get bench:conv:${id}`, 'server.address': '127.0.0.1', 'server.port': 6379, 'tenant.id': tenant },
      },
      ctx
    );
    g.end();
    server.setAttribute('http.response.status_code', status);
    server.setAttribute('tenant.id', tenant);
    if (status >= 500) {
      server.setStatus({ code: SpanStatusCode.ERROR });
      server.setAttribute('error.type', '500');
    }
    server.end();
  }
  return collector.spans;
}

function batches(spans: ReadableSpan[]): ReadableSpan[][] {
  const out: ReadableSpan[][] = [];
  for (let i = 0; i < spans.length; i += BATCH) out.push(spans.slice(i, i + BATCH));
  return out;
}

function cpuNs(): bigint {
  const u = process.threadCpuUsage();
  return BigInt(u.user + u.system) * 1000n;
}

function main(): void {
  const spans = buildEncodeSpans();
  const list = batches(spans);
  const lean = new LeanTraceEncoder();
  let bytes = 0;
  for (const b of list) {
    const up = ProtobufTraceSerializer.serializeRequest(b)!;
    const mine = lean.encode(b);
    if (Buffer.compare(Buffer.from(up), Buffer.from(mine)) !== 0) throw new Error('the lean encoder wrote other bytes than upstream');
    bytes += up.length;
  }
  const cases: [string, () => number][] = [
    ['upstream ProtobufTraceSerializer', () => list.reduce((n, b) => n + ProtobufTraceSerializer.serializeRequest(b)!.length, 0)],
    ['lean encoder (src/export)', () => list.reduce((n, b) => n + lean.encode(b).length, 0)],
  ];
  for (let w = 0; w < 3; w++) for (const [, run] of cases) run();
  const samples = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of cases) {
      gc();
      const t0 = cpuNs();
      run();
      samples.get(name)!.push(Number(cpuNs() - t0) / spans.length);
    }
  }
  const base = median(samples.get(cases[0][0])!);
  const rows: BenchRow[] = cases.map(([name]) => {
    const v = median(samples.get(name)!);
    return { bench: 'encode', case: name, value: v, unit: 'ns/span', ratio: v / base, ratioTo: 'vs upstream' };
  });
  emit({
    title: 'OTLP/protobuf trace encoding: upstream serializer vs the lean encoder (same spans, same bytes)',
    rows,
    notes: [
      `${spans.length} spans (${REQUESTS} requests × server + pg + redis), batches of ${BATCH}, ${(bytes / spans.length).toFixed(0)} bytes per span on the wire; identical bytes checked for every batch before timing.`,
      `Main-thread CPU per span, median of ${ROUNDS} interleaved rounds after 3 warm-up passes.`,
    ],
  });
}

/** Cold start to steady state, one serializer, fresh spans per batch: for callgrind (see the header). */
function encodeOnly(mode: string): void {
  const batches = Number(process.env.BENCH_ENCODE_BATCHES ?? 40);
  const lean = new LeanTraceEncoder();
  let bytes = 0;
  let spans = 0;
  for (let i = 0; i < batches; i++) {
    const batch = buildEncodeSpans(171, 11 + i);
    spans += batch.length;
    if (mode === 'lean') bytes += lean.encode(batch).length;
    else if (mode === 'upstream') bytes += ProtobufTraceSerializer.serializeRequest(batch)!.length;
  }
  console.log(`${mode}: ${batches} batches, ${spans} spans, ${bytes} bytes`);
}

if (require.main === module) {
  if (process.env.BENCH_ENCODE_ONLY !== undefined) encodeOnly(process.env.BENCH_ENCODE_ONLY);
  else main();
}
