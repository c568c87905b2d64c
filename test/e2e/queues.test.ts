/**
 * Out of process, real parts: a producer and a worker (test/fixtures/queue-app.js) under `node --require
 * ./register.js`, the real RabbitMQ (TEST_AMQP_URL) and Redis, upstream amqplib instrumentation. The tenant travels
 * in the message headers as baggage, so the worker's consumer spans, its Redis span and its `getTenant()` are the
 * producer's tenant; `queue_size` follows publishes and acks; `queue_processing_duration_seconds` counts each
 * consumed message. Read from each process's own /metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { freePort } from '../helpers/services';

const UNIQUE = `${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
const QUEUE = `tenantscope.test.jobs.${UNIQUE}`;
const LIST = `tenantscope:test:list:${UNIQUE}`;

type Samples = ReturnType<typeof parseMetrics>;

async function start(role: 'producer' | 'worker'): Promise<{ app: RunningFixture; metricsPort: number }> {
  if (process.env.TEST_AMQP_URL === undefined) throw new Error('no RabbitMQ: TEST_AMQP_URL is unset (run through test/run.js; .ci/run installs rabbitmq-server)');
  const metricsPort = await freePort();
  const app = await startFixture('queue-app.js', {
    env: {
      ROLE: role,
      QUEUE,
      LIST,
      OTEL_SERVICE_NAME: `queue-${role}`,
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    },
  });
  return { app, metricsPort };
}

async function call(app: RunningFixture, method: string, path: string, tenant?: string): Promise<{ seen: string[]; held: number }> {
  const r = await fetch(`http://127.0.0.1:${app.port}${path}`, { method, headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${method} ${path} answered ${r.status}: ${text}`);
  return JSON.parse(text) as { seen: string[]; held: number };
}

/** Polls until `check` returns a value (not undefined), or fails with the last state. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Scrapes until queue_size{queue_name} is `expected`; returns the samples (so a wrong value fails with what was seen). */
async function depthBecomes(port: number, queue: string, expected: number): Promise<Samples> {
  let seen: number[] = [];
  try {
    return await until(`queue_size{queue_name="${queue}"} = ${expected}`, async () => {
      const samples = parseMetrics(await scrape(port));
      seen = samples.filter((s) => s.name === 'queue_size' && s.labels.queue_name === queue).map((s) => s.value);
      return seen.length === 1 && seen[0] === expected ? samples : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last values ${JSON.stringify(seen)}`);
  }
}

describe('RabbitMQ producer and worker under --require', () => {
  let producer: { app: RunningFixture; metricsPort: number };
  let worker: { app: RunningFixture; metricsPort: number };

  before(async () => {
    producer = await start('producer');
    worker = await start('worker');
  });

  after(async () => {
    await Promise.all([producer?.app.stop(), worker?.app.stop()]);
  });

  it('queue_size follows publishes and acks (RabbitMQ) and pushes and pops (Redis list), polled at scrape time', async () => {
    await call(producer.app, 'POST', `/jobs?n=3&type=summarize`, 'acme');
    let samples = await depthBecomes(producer.metricsPort, QUEUE, 3);
    // Registered outside any request and without a tenant option: the queue is nobody's.
    assert.deepEqual(
      samples.filter((s) => s.name === 'queue_size' && s.labels.queue_name === QUEUE).map((s) => s.labels),
      [{ queue_name: QUEUE, tenant_id: 'unknown' }]
    );
    await call(producer.app, 'POST', '/list?n=3');
    await depthBecomes(producer.metricsPort, LIST, 3);
    await call(producer.app, 'POST', '/list/pop');
    await depthBecomes(producer.metricsPort, LIST, 2);

    // Prefetch 1: one message is delivered and held unacked, the others stay ready.
    await call(worker.app, 'POST', '/consume');
    await until('first delivery held', async () => ((await call(worker.app, 'GET', '/seen')).held === 1 ? true : undefined));
    await depthBecomes(producer.metricsPort, QUEUE, 2);
    for (const expected of [1, 0]) {
      const before = (await call(worker.app, 'GET', '/seen')).seen.length;
      await call(worker.app, 'POST', '/ack');
      await until('next delivery held', async () => {
        const s = await call(worker.app, 'GET', '/seen');
        return s.seen.length === before + 1 && s.held === 1 ? true : undefined;
      });
      samples = await depthBecomes(producer.metricsPort, QUEUE, expected);
    }
    await call(worker.app, 'POST', '/ack');
    await depthBecomes(producer.metricsPort, QUEUE, 0);
  });

  it('the consumer counts for the producer tenant: its spans, its Redis call, getTenant() and the queue duration', async () => {
    await call(producer.app, 'POST', `/jobs?n=2&type=reindex`, 'globex');
    await call(producer.app, 'POST', `/jobs?n=1`);
    // Three more to consume after the first test's three: ack each as it is held.
    for (let i = 0; i < 3; i++) {
      await until('a delivery held', async () => ((await call(worker.app, 'GET', '/seen')).held === 1 ? true : undefined));
      await call(worker.app, 'POST', '/ack');
    }
    const { seen } = await call(worker.app, 'GET', '/seen');
    assert.deepEqual(seen, ['acme', 'acme', 'acme', 'globex', 'globex', 'unknown']);

    const consumerCalls = (s: Samples, tenant: string): number =>
      sumOf(s, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CONSUMER', span_name: `${QUEUE} process`, tenant_id: tenant });
    const w = await until('six consumer spans on the worker', async () => {
      const s = parseMetrics(await scrape(worker.metricsPort));
      return sumOf(s, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CONSUMER', span_name: `${QUEUE} process` }) === 6 ? s : undefined;
    });
    assert.deepEqual(
      { acme: consumerCalls(w, 'acme'), globex: consumerCalls(w, 'globex'), unknown: consumerCalls(w, 'unknown') },
      { acme: 3, globex: 2, unknown: 1 }
    );
    // The Redis SET inside the handler: a child of the consumer span, with its tenant.
    const redisSet = (tenant: string): number => sumOf(w, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT', span_name: 'set', tenant_id: tenant });
    assert.deepEqual({ acme: redisSet('acme'), globex: redisSet('globex'), unknown: redisSet('unknown') }, { acme: 3, globex: 2, unknown: 1 });
    // Acked messages are not errors.
    assert.equal(sumOf(w, 'errors_total'), 0);
    const count = (type: string): number => sumOf(w, 'queue_processing_duration_seconds_count', { queue_name: QUEUE, message_type: type });
    assert.deepEqual({ summarize: count('summarize'), reindex: count('reindex'), none: count('') }, { summarize: 3, reindex: 2, none: 1 });
    const inf = sumOf(w, 'queue_processing_duration_seconds_bucket', { queue_name: QUEUE, le: '+Inf' });
    assert.equal(inf, 6);

    // The producer: one publish span per message, under the request's tenant. Polled: its /metrics serves a result
    // younger than 1 s again (issue 12), and the first test's last scrape may be that recent.
    const p = await until('six publish spans on the producer', async () => {
      const s = parseMetrics(await scrape(producer.metricsPort));
      return sumOf(s, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_PRODUCER', span_name: 'publish <default>' }) === 6 ? s : undefined;
    });
    const publish = (tenant: string): number =>
      sumOf(p, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_PRODUCER', span_name: 'publish <default>', tenant_id: tenant });
    assert.deepEqual({ acme: publish('acme'), globex: publish('globex'), unknown: publish('unknown') }, { acme: 3, globex: 2, unknown: 1 });
    // The producer consumes nothing.
    assert.equal(sumOf(p, 'queue_processing_duration_seconds_count'), 0);
  });
});
