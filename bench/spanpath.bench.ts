/**
 * The span path alone, by instructions (issue 11, "spans nobody exports"): what tenantscope's pipeline does for one
 * hello-world request's server span, without sockets or timers, so callgrind's count per request is repeatable to
 * well under 1 % (the HTTP bench's counts move with the machine's load, see bench/instructions.bench.ts).
 *
 * A child process starts the real pipeline (`startTenantScope`: the tenant propagator, TenantSpanProcessor,
 * LocalTraceSpanProcessor and every metric processor; traces, metrics and logs exporters `none`, so no export
 * work) and plays requests as instrumentation-http does for a server request: extract the headers (`x-tenant-id`
 * of 1,000 tenants, `/v1/conversations/<n>` of 5,000 paths), start the server span with its 13 start attributes,
 * run the handler in its context, set the 6 response attributes and the status, end it. Under valgrind: warm-up,
 * counters zeroed, BENCH_REQUESTS requests counted. Cases: sampler `traceidratio` at 10% and 100%, lean spans on
 * (default) and off (`TENANTSCOPE_LEAN_SPANS=false`), BENCH_VARIANTS roots (another tree's build), and upstream's
 * span path (sdk-trace's provider, parent-based ratio sampler, W3C propagators, batch processor, no metrics).
 *
 * `npx node build/bench/spanpath.bench.js` — BENCH_WARMUP (5000), BENCH_REQUESTS (10000), BENCH_VARIANTS, BENCH_CASES
 * (case-name prefixes).
 */
import { join } from 'node:path';
import { hasValgrind, startUnderCallgrind } from './callgrind';
import { emit, type BenchRow } from './harness';
import { variantsFromEnv } from './pinning';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 5000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);

interface Case {
  name: string;
  env: Record<string, string>;
  root: string;
}

function cases(): Case[] {
  const here = join(__dirname, '..', '..');
  const list: Case[] = [];
  const roots = [{ label: '', root: here, env: {} as Record<string, string> }, ...variantsFromEnv().map((v) => ({ label: ` ${v.label}`, root: v.root ?? here, env: v.env }))];
  for (const ratio of ['0.1', '1']) {
    for (const r of roots) {
      const pct = ratio === '1' ? '100%' : '10%';
      list.push({ name: `${pct}${r.label}`, root: r.root, env: { OTEL_TRACES_SAMPLER_ARG: ratio, ...r.env } });
      if (r.label === '') list.push({ name: `${pct} lean off`, root: r.root, env: { OTEL_TRACES_SAMPLER_ARG: ratio, TENANTSCOPE_LEAN_SPANS: 'false' } });
    }
  }
  // Upstream's span path at the same ratios: sdk-trace's provider, parent-based ratio sampler, W3C propagators, a
  // batch processor to an exporter that drops (our cases export nothing either).
  list.push({ name: 'upstream 10%', root: 'upstream', env: { OTEL_TRACES_SAMPLER_ARG: '0.1' } });
  list.push({ name: 'upstream 100%', root: 'upstream', env: { OTEL_TRACES_SAMPLER_ARG: '1' } });
  const only = process.env.BENCH_CASES?.split(',');
  return list.filter((c) => only === undefined || only.some((p) => c.name.startsWith(p)));
}

function tenantscopeTracer(root: string): import('@opentelemetry/api').Tracer {
  const { startTenantScope } = require(join(root, 'build', 'src', 'sdk.js')) as typeof import('../src/sdk');
  const scope = startTenantScope(process.env);
  if (scope === undefined) throw new Error('tenantscope did not start');
  return scope.tracerProvider.getTracer('@opentelemetry/instrumentation-http', '0.301.0');
}

function upstreamTracer(): import('@opentelemetry/api').Tracer {
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const sdk = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }));
  const exporter: import('@opentelemetry/sdk-trace').SpanExporter = {
    export: (_spans, done) => done({ code: core.ExportResultCode.SUCCESS }),
    shutdown: () => Promise.resolve(),
  };
  const provider = new sdk.TracerProvider({
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(Number(process.env.OTEL_TRACES_SAMPLER_ARG)) }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter })],
  });
  api.trace.setGlobalTracerProvider(provider);
  return provider.getTracer('@opentelemetry/instrumentation-http', '0.301.0');
}

/** The child: the pipeline of `root` (or upstream's), requests on demand over IPC. */
function child(root: string): void {
  const tracer = root === 'upstream' ? upstreamTracer() : tenantscopeTracer(root);
  const api = require(require.resolve('@opentelemetry/api', { paths: [root === 'upstream' ? join(__dirname, '..', '..') : root] })) as typeof import('@opentelemetry/api');
  const getter = {
    keys: (c: Record<string, string>) => Object.keys(c),
    get: (c: Record<string, string>, k: string) => c[k],
  };
  let n = 0;
  const one = (): void => {
    const i = n++;
    const path = `/v1/conversations/${i % 5000}`;
    const headers: Record<string, string> = { host: '127.0.0.1:8080', 'user-agent': 'autocannon', 'x-tenant-id': `tenant-${i % 1000}` };
    const ctx = api.propagation.extract(api.ROOT_CONTEXT, headers, getter);
    const span = tracer.startSpan(
      'GET',
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          'http.request.method': 'GET',
          'url.scheme': 'http',
          'server.address': '127.0.0.1',
          'server.port': 8080,
          'network.peer.address': '127.0.0.1',
          'network.peer.port': 40000 + (i % 4),
          'network.protocol.version': '1.1',
          'user_agent.original': 'autocannon',
          'url.path': path,
          'client.address': '127.0.0.1',
          'network.local.address': '127.0.0.1',
          'network.local.port': 8080,
          'network.transport': 'tcp',
        },
      },
      ctx
    );
    api.context.with(api.trace.setSpan(ctx, span), () => undefined);
    span.setAttributes({ 'http.response.status_code': 200, 'network.peer.address': '127.0.0.1', 'network.peer.port': 40000 + (i % 4) });
    span.setStatus({ code: api.SpanStatusCode.UNSET });
    span.end();
  };
  process.on('message', (m: { run?: number }) => {
    if (typeof m.run !== 'number') return;
    for (let k = 0; k < m.run; k++) one();
    process.send!({ done: m.run });
  });
  process.send!({ ready: true });
}

async function measure(c: Case): Promise<number> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    TENANTSCOPE_TENANT_HEADER: 'x-tenant-id',
    ...c.env,
  };
  const cg = startUnderCallgrind([__filename, '--child', c.root], env);
  const next = (want: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onMsg = (m: Record<string, unknown>): void => {
        if (m[want] === undefined) return;
        cg.proc.off('message', onMsg);
        resolve();
      };
      cg.proc.on('message', onMsg);
      cg.proc.once('exit', (code) => reject(new Error(`${c.name}: exited ${code}\n${cg.stderr().slice(-2000)}`)));
    });
  try {
    await next('ready');
    cg.proc.send({ run: WARMUP });
    await next('done');
    cg.zero();
    cg.proc.send({ run: REQUESTS });
    await next('done');
    return cg.dump() / REQUESTS;
  } finally {
    cg.close();
  }
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  if (!hasValgrind()) {
    emit({ title: 'Span path, instructions per request (callgrind)', rows, notes: ['valgrind is not installed: skipped.'] });
    return;
  }
  const per = new Map<string, number>();
  for (const c of cases()) {
    const v = await measure(c);
    per.set(c.name, v);
    if (!process.argv.includes('--json')) process.stderr.write(`${c.name}: ${Math.round(v)} instructions/request\n`);
  }
  for (const c of cases()) {
    const base = c.name.startsWith('upstream') ? 'none' : c.name.startsWith('100%') ? 'upstream 100%' : 'upstream 10%';
    const v = per.get(c.name)!;
    if (!per.has(base)) {
      rows.push({ bench: 'spanpath', case: c.name, value: Math.round(v), unit: 'instructions/request' });
      continue;
    }
    rows.push({
      bench: 'spanpath',
      case: c.name,
      value: Math.round(v),
      unit: 'instructions/request',
      ...(c.name === base ? {} : { ratio: v / per.get(base)!, ratioTo: base }),
    });
  }
  emit({
    title: 'Span path of one server request, instructions (callgrind)',
    rows,
    notes: [`${WARMUP} warm-up requests, ${REQUESTS} counted; no sockets, no timers, no export (exporters none).`],
  });
}

if (process.argv[2] === '--child') child(process.argv[3]);
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
