/**
 * Issue 8 (cache, database, integrations, errors_total, runtime), out of process: test/fixtures/deps-app.js under
 * `node --require ./register.js`, with real PostgreSQL and Redis, the real `mongodb` driver against the
 * wire-protocol STAND-IN (test/helpers/mongoPeer.ts: no MongoDB can run here; `MONGODB_URL` runs it against a real
 * server), and two loopback HTTP peers (a listed "CRM" integration and an internal service). Counts are exact,
 * per tenant, read from the app's /metrics and from the spans it exports over OTLP/JSON.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startMongoPeer, type MongoPeer } from '../helpers/mongoPeer';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';

type Samples = ReturnType<typeof parseMetrics>;
const CLIENT = 3;
const TABLE = `tenantscope_deps_${process.pid}`;
const PREFIX = `t${process.pid}`;
const MONGO_DB = `tenantscope_deps_${process.pid}`;
/** The `database_name` of a mongodb pool: its client's default database (the connection string's path, else `test`). */
function mongoDefaultDb(url: string): string {
  const { MongoClient } = require('mongodb') as typeof import('mongodb');
  return new MongoClient(url).options.dbName;
}
const SLOW_MS = 500;
/** Requests per tenant on each route. */
const PER_TENANT: Record<string, number> = { acme: 2, globex: 1 };

/** A loopback HTTP peer: `/fail` answers 500, anything else 200. */
async function startPeer(): Promise<{ url: string; port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(req.url === '/fail' ? 500 : 200, { 'content-type': 'text/plain' }).end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, port, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function until(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const realMongo = process.env.MONGODB_URL;
const mongoLabel = realMongo === undefined ? 'the mongodb wire stand-in' : 'the real MongoDB at MONGODB_URL';

describe('issue 8 dependency metrics under --require (real PostgreSQL and Redis, ' + mongoLabel + ')', () => {
  let mongoPeer: MongoPeer | undefined;
  let mongoUrl: string;
  let crm: Awaited<ReturnType<typeof startPeer>>;
  let internal: Awaited<ReturnType<typeof startPeer>>;
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let promPort: number;
  let base: string;
  let samples: Samples;
  const metrics = async (): Promise<Samples> => parseMetrics(await scrape(promPort));
  const get = async (path: string, tenant?: string): Promise<number> => {
    const r = await fetch(`${base}${path}`, { headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } });
    await r.arrayBuffer();
    return r.status;
  };

  before(async () => {
    // The stand-in holds replies to finds on `slow`, so pooled connections stay checked out for a while.
    if (realMongo === undefined) mongoPeer = await startMongoPeer({ delayMs: (c) => (c.find === 'slow' ? 1500 : 0) });
    mongoUrl = realMongo ?? `mongodb://127.0.0.1:${mongoPeer!.port}/${MONGO_DB}?directConnection=true`;
    crm = await startPeer();
    internal = await startPeer();
    receiver = await startOtlpReceiver();
    promPort = await freePort();
    app = await startFixture('deps-app.js', {
      env: {
        OTEL_SERVICE_NAME: 'deps-app',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
        MONGODB_URL: mongoUrl,
        MONGO_DB,
        TABLE,
        KEY_PREFIX: PREFIX,
        CRM_URL: crm.url,
        INTERNAL_URL: internal.url,
        SLOW_SECONDS: String((SLOW_MS + 300) / 1000),
        TENANTSCOPE_SLOW_QUERY_MS: String(SLOW_MS),
        TENANTSCOPE_INTEGRATIONS: `crm=127.0.0.1:${crm.port};webhook=hooks.slack.com`,
      },
    });
    base = `http://127.0.0.1:${app.port}`;
    for (const [tenant, n] of Object.entries(PER_TENANT)) {
      for (let i = 0; i < n; i++) {
        assert.equal(await get('/cache', tenant), 200);
        assert.equal(await get('/db', tenant), 200);
        assert.equal(await get('/mongo', tenant), 200);
        assert.equal(await get('/calls', tenant), 200);
        assert.equal(await get('/quota', tenant), 429);
        assert.equal(await get('/model-down', tenant), 503);
        assert.equal(await get('/fail', tenant), 503);
        assert.equal(await get('/local-cache', tenant), 200);
      }
    }
    const total = Object.values(PER_TENANT).reduce((a, b) => a + b, 0);
    // Server spans end when the response is flushed, a moment after the client read it.
    await until(async () => sumOf((samples = await metrics()), 'http_requests_total') === total * 8, 10_000, 'every request on /metrics');
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
    await crm?.close();
    await internal?.close();
    await mongoPeer?.close();
  });

  const each = (fn: (tenant: string, n: number) => void): void => {
    for (const [tenant, n] of Object.entries(PER_TENANT)) fn(tenant, n);
  };

  it('cache_requests_total{level="redis"} counts hits and misses per key for GET, MGET, HGET and EXISTS, per tenant and cache type', () => {
    each((tenant, n) => {
      const c = (type: string, result: string): number => sumOf(samples, 'cache_requests_total', { cache_type: type, level: 'redis', result, tenant_id: tenant });
      // GET hit + GET miss + MGET (2 hits, 1 miss)
      assert.equal(c('conversation_context', 'hit'), 3 * n, tenant);
      assert.equal(c('conversation_context', 'miss'), 2 * n, tenant);
      // HGET hit + HGET miss + EXISTS of two keys (one exists)
      assert.equal(c('user_session', 'hit'), 2 * n, tenant);
      assert.equal(c('user_session', 'miss'), 2 * n, tenant);
    });
    // No key id ever became a cache type.
    const types = new Set(samples.filter((s) => s.name === 'cache_requests_total').map((s) => s.labels.cache_type));
    assert.deepEqual([...types].sort(), ['conversation_context', 'invalid', 'prompt_template', 'user_session']);
  });

  it('cacheLookup and cacheEviction count the local level; a bad cache name folds into invalid', () => {
    each((tenant, n) => {
      const c = (type: string, result: string): number => sumOf(samples, 'cache_requests_total', { cache_type: type, level: 'local', result, tenant_id: tenant });
      assert.equal(c('prompt_template', 'hit'), n, tenant);
      assert.equal(c('prompt_template', 'miss'), n, tenant);
      assert.equal(c('invalid', 'hit'), n, tenant);
    });
    assert.equal(sumOf(samples, 'cache_evictions_total', { cache_type: 'prompt_template', level: 'local' }), 2 * 3);
  });

  it('database_query_duration_seconds: operation and table from the pg statement, the mongodb and ioredis attributes', () => {
    const count = (type: string, operation: string, table: string): number =>
      sumOf(samples, 'database_query_duration_seconds_count', { database_type: type, operation, table });
    assert.equal(count('postgresql', 'SELECT', TABLE), 3);
    assert.equal(count('postgresql', 'INSERT', TABLE), 3);
    assert.equal(count('postgresql', 'SELECT', ''), 3); // SELECT pg_sleep($1) names no table
    assert.equal(count('mongodb', 'insert', 'messages'), 3);
    assert.equal(count('mongodb', 'find', 'messages'), 3);
    assert.equal(count('redis', 'get', ''), 6);
    assert.equal(count('redis', 'mget', ''), 3);
    assert.equal(count('redis', 'hget', ''), 6);
    assert.equal(count('redis', 'exists', ''), 3);
    // The seed's buckets.
    const les = samples
      .filter((s) => s.name === 'database_query_duration_seconds_bucket' && s.labels.operation === 'INSERT' && s.labels.table === TABLE)
      .map((s) => s.labels.le);
    assert.deepEqual(les, ['0.01', '0.05', '0.1', '0.5', '1', '5', '10', '+Inf']);
    // The slow sleeps landed above 0.5 s.
    assert.equal(sumOf(samples, 'database_query_duration_seconds_bucket', { database_type: 'postgresql', operation: 'SELECT', table: '', le: '0.5' }), 0);
  });

  it(`database_slow_queries_total counts operations slower than TENANTSCOPE_SLOW_QUERY_MS=${SLOW_MS}, per tenant`, () => {
    each((tenant, n) => {
      assert.equal(sumOf(samples, 'database_slow_queries_total', { database_type: 'postgresql', operation: 'SELECT', table: '', tenant_id: tenant }), n);
      assert.equal(sumOf(samples, 'database_slow_queries_total', { tenant_id: tenant }), n, `${tenant}: only the sleeps are slow`);
    });
  });

  it('integration_calls_total / integration_duration_seconds: the listed CRM host, success and error; internal hosts are not integrations', () => {
    const id = `127.0.0.1:${crm.port}`;
    each((tenant, n) => {
      const calls = (status: string): number =>
        sumOf(samples, 'integration_calls_total', { tenant_id: tenant, integration_id: id, integration_type: 'crm', status });
      assert.equal(calls('success'), n, tenant);
      assert.equal(calls('error'), n, tenant);
      assert.equal(sumOf(samples, 'integration_duration_seconds_count', { tenant_id: tenant, integration_id: id, integration_type: 'crm' }), 2 * n);
    });
    assert.equal(sumOf(samples, 'integration_calls_total'), 2 * 3, 'the internal service is no integration');
    assert.equal(internal.hits.length, 3);
    const les = samples.filter((s) => s.name === 'integration_duration_seconds_bucket' && s.labels.tenant_id === 'acme').map((s) => s.labels.le);
    assert.deepEqual(les, ['0.1', '0.5', '1', '2', '5', '10', '30', '+Inf']);
  });

  it('errors_total takes the escaped exception\'s class name; a 5xx without an exception keeps its status code', () => {
    each((tenant, n) => {
      const e = (type: string): number => sumOf(samples, 'errors_total', { error_type: type, service: 'deps-app', tenant_id: tenant });
      assert.equal(e('QuotaExceededError'), n, `${tenant}: a class that never sets name`);
      assert.equal(e('ModelUnavailableError'), n, tenant);
      assert.equal(e('503'), n, tenant);
      assert.equal(sumOf(samples, 'errors_total', { tenant_id: tenant }), 3 * n, tenant);
    });
  });

  it('database_connections_active / idle / waiting follow the pg Pool as it grows, queues and shrinks', async () => {
    const gauge = (name: string, s: Samples): number => sumOf(s, name, { database_type: 'postgresql', database_name: 'postgres' });
    // Six sleeps on a pool of at most four: four connections busy, two requests waiting.
    const held = get('/hold?n=6&s=1.5', 'acme');
    let s: Samples = [];
    await until(
      async () => {
        s = await metrics();
        return gauge('database_connections_active', s) === 4 && gauge('database_connections_waiting', s) === 2;
      },
      10_000,
      'active=4, waiting=2'
    );
    assert.equal(gauge('database_connections_idle', s), 0);
    assert.equal(await held, 200);
    // Done: nothing busy or waiting, and once the pool's idle timeout (1.5 s) passes it has shrunk to nothing; the
    // series stay, at 0.
    await until(
      async () => {
        s = await metrics();
        return gauge('database_connections_active', s) === 0 && gauge('database_connections_waiting', s) === 0 && gauge('database_connections_idle', s) === 0;
      },
      10_000,
      'active=0, waiting=0, idle=0'
    );
    for (const name of ['database_connections_active', 'database_connections_idle', 'database_connections_waiting']) {
      assert.equal(s.filter((x) => x.name === name && x.labels.database_type === 'postgresql').length, 1, name);
    }
  });

  it('database_connections_active follows the mongodb driver\'s pool', async (t) => {
    if (mongoPeer === undefined) {
      t.skip('the real server answers at once; the held replies need the stand-in');
      return;
    }
    const gauge = (name: string, s: Samples): number => sumOf(s, name, { database_type: 'mongodb', database_name: mongoDefaultDb(mongoUrl) });
    let s = await metrics();
    assert.equal(gauge('database_connections_active', s), 0);
    const idleBefore = gauge('database_connections_idle', s);
    assert.ok(idleBefore >= 1, `idle ${idleBefore}`);
    const held = get('/mongo-hold?n=2', 'acme');
    await until(
      async () => {
        s = await metrics();
        return gauge('database_connections_active', s) === 2;
      },
      10_000,
      'two mongodb connections checked out'
    );
    assert.equal(await held, 200);
    await until(async () => gauge('database_connections_active', (s = await metrics())) === 0, 10_000, 'mongodb connections back');
    assert.equal(gauge('database_connections_idle', s), 2);
  });

  it('runtime and process metrics are served (event loop, heap, GC; process CPU and memory)', () => {
    const names = new Set(samples.map((s) => s.name));
    // host-metrics gives process.memory.usage and process.cpu.utilization no unit, so no unit word is appended.
    for (const n of [
      'nodejs_eventloop_utilization_ratio',
      'nodejs_eventloop_delay_p99_seconds',
      'v8js_memory_heap_used_bytes',
      'v8js_gc_duration_seconds_count',
      'process_cpu_time_seconds_total',
      'process_cpu_utilization',
      'process_memory_usage',
    ]) {
      assert.ok(names.has(n), `${n} missing; have ${[...names].filter((x) => /^(nodejs|v8js|process)_/.test(x)).join(', ')}`);
    }
    assert.ok(![...names].some((x) => x.startsWith('system_')), 'machine-wide metrics belong to the Collector');
  });

  describe('exported spans', () => {
    let spans: ReceivedSpan[];
    before(async () => {
      const exit = await app.stop();
      assert.equal(exit.code, 0, app.stderr());
      await receiver.waitFor(() => receiver.spans.filter((s) => s.attributes['db.operation.name'] === 'exists').length >= 3, 10_000, 'redis spans');
      spans = receiver.spans.filter((s) => s.resource['service.name'] === 'deps-app');
    });

    it('Redis reads carry cache.type and cache.hit, or cache.hits and cache.misses; never the value', () => {
      const redis = (op: string): ReceivedSpan[] => spans.filter((s) => s.kind === CLIENT && s.attributes['db.system.name'] === 'redis' && s.attributes['db.operation.name'] === op);
      const gets = redis('get');
      assert.equal(gets.length, 6);
      assert.deepEqual(gets.map((s) => s.attributes['cache.hit']).sort(), [false, false, false, true, true, true]);
      for (const s of gets) assert.equal(s.attributes['cache.type'], 'conversation_context');
      for (const s of redis('mget')) {
        assert.equal(s.attributes['cache.hits'], 2);
        assert.equal(s.attributes['cache.misses'], 1);
        assert.equal(s.attributes['cache.hit'], undefined);
      }
      for (const s of redis('exists')) assert.deepEqual([s.attributes['cache.type'], s.attributes['cache.hits'], s.attributes['cache.misses']], ['user_session', 1, 1]);
      const text = JSON.stringify(spans);
      for (const value of ['ctx-1', 'ctx-2', '"ann"']) assert.ok(!text.includes(value), `cached value ${value} reached a span`);
    });

    it('statements stay parameterised (pg) or masked (mongodb): no literal reaches a span', () => {
      const pg = spans.filter((s) => s.attributes['db.system.name'] === 'postgresql' && String(s.attributes['db.query.text'] ?? '').includes(TABLE));
      assert.ok(pg.length >= 6);
      const text = JSON.stringify(spans);
      assert.ok(!text.includes('secret-literal-value') && !text.includes('another-secret'));
      const inserts = spans.filter((s) => s.attributes['db.system.name'] === 'mongodb' && s.attributes['db.operation.name'] === 'insert');
      assert.equal(inserts.length, 3);
      for (const s of inserts) assert.ok(!String(s.attributes['db.query.text'] ?? '').includes('hello'), String(s.attributes['db.query.text']));
    });

    it('cacheLookup adds a cache.lookup event to the current span', () => {
      const events = spans.flatMap((s) => s.events.filter((e) => e.name === 'cache.lookup'));
      assert.equal(events.length, 3 * 3);
      assert.equal(events.filter((e) => e.attributes['cache.type'] === 'prompt_template' && e.attributes['cache.hit'] === true && e.attributes['cache.level'] === 'local').length, 3);
    });
  });
});

describe('runtime and process metrics are switchable', () => {
  for (const [runtime, processMetrics] of [
    ['false', 'false'],
    ['false', 'true'],
  ] as const) {
    it(`TENANTSCOPE_RUNTIME_METRICS=${runtime}, TENANTSCOPE_PROCESS_METRICS=${processMetrics}`, async () => {
      const port = await freePort();
      const app = await startFixture('idle-server.js', {
        env: {
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'prometheus',
          OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
          OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
          TENANTSCOPE_RUNTIME_METRICS: runtime,
          TENANTSCOPE_PROCESS_METRICS: processMetrics,
        },
      });
      try {
        const names = new Set(parseMetrics(await scrape(port)).map((s) => s.name));
        assert.equal([...names].some((n) => n.startsWith('nodejs_') || n.startsWith('v8js_')), false);
        assert.equal(names.has('process_cpu_time_seconds_total'), processMetrics === 'true');
        assert.equal(app.stderr(), '');
      } finally {
        await app.stop();
      }
    });
  }
});
