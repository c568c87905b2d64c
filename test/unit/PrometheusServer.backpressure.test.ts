/**
 * PrometheusServer under a large exposition (30,000 histogram series, ~119 MB of text) over real loopback HTTP:
 * it honours socket backpressure (bounded chunks, waits for drain) and serves every series exactly, and a
 * scraper that hangs up mid-way stops the serialisation instead of leaving it waiting for a drain forever
 * (regression: the first backpressure version kept one pending serialisation per aborted scrape).
 * Timing targets (event-loop stall) are measured in bench/scrape.bench.ts, not here.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { PrometheusServer } from '../../src/prometheus/PrometheusServer';
import { METRIC_SPAN_DURATION } from '../../src/core/semconv';

const SERIES = 30_000;
let server: PrometheusServer;
let provider: MeterProvider;
let port: number;
let started = 0;
let settled = 0;
const chunkSizes: number[] = [];

before(async () => {
  const resource = resourceFromAttributes({ 'service.name': 'svc' });
  const store = new MetricStore(resource);
  const family = store.histogram(METRIC_SPAN_DURATION);
  for (let i = 0; i < SERIES; i++) {
    const s = family.get(['svc', `GET /r${i % 30}`, 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET', `tenant-${Math.floor(i / 30)}`]);
    s.record(3);
    s.record(300);
  }
  // No pacing between the two scrapes of ~119 MB and no result cache (storm pacing and the 1 s cache are
  // PrometheusServer.storm.test.ts's subject): the second scrape must start a serialisation of its own, not read the
  // first one's finished exposition again.
  server = new PrometheusServer({ host: '127.0.0.1', port: 0, store, maxBytesPerSecond: Infinity, cacheMillis: 0 });
  provider = new MeterProvider({ resource, readers: [server] });
  // Observe the serializer the request handler uses: how many run, how many finish, how big each chunk is.
  const serialize = server.serialize.bind(server);
  server.serialize = (write) => {
    started++;
    return serialize((chunk) => {
      chunkSizes.push(chunk.length);
      return write(chunk);
    }).finally(() => settled++);
  };
  port = (await server.port) as number;
});

after(async () => {
  await provider.shutdown();
});

/** GETs /metrics; `abortAfter` bytes, if given, hangs up mid-body. Resolves with the bytes and text read. */
function scrape(abortAfter?: number): Promise<{ bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let bytes = 0;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (abortAfter === undefined) parts.push(c);
        else if (bytes >= abortAfter) {
          req.destroy();
          resolve({ bytes, text: '' });
        }
      });
      res.on('end', () => resolve({ bytes, text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', (err) => (abortAfter === undefined ? reject(err) : undefined));
    req.end();
  });
}

test('a 30,000-series scrape arrives whole, in chunks of at most ~64K characters', async () => {
  chunkSizes.length = 0;
  const { text } = await scrape();
  let buckets = 0;
  let counts = 0;
  let infBuckets2 = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('traces_span_metrics_duration_milliseconds_bucket{')) {
      buckets++;
      if (line.endsWith('le="+Inf"} 2')) infBuckets2++;
    } else if (line.startsWith('traces_span_metrics_duration_milliseconds_count{')) {
      assert.ok(line.endsWith(' 2'), line);
      counts++;
    }
  }
  assert.equal(buckets, SERIES * 17);
  assert.equal(counts, SERIES);
  assert.equal(infBuckets2, SERIES);
  assert.ok(chunkSizes.length > 1000, `only ${chunkSizes.length} chunks`);
  // One series (about 4 KB of text) may push a chunk past the 64K-character threshold.
  assert.ok(Math.max(...chunkSizes) < 64 * 1024 + 8 * 1024, `largest chunk ${Math.max(...chunkSizes)}`);
});

test('a scraper that hangs up mid-body stops the serialisation (nothing left pending)', async () => {
  const before = { started, settled };
  chunkSizes.length = 0;
  const { bytes } = await scrape(2_000_000);
  assert.ok(bytes >= 2_000_000);
  const deadline = Date.now() + 5000;
  while (settled < before.settled + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(started, before.started + 1);
  assert.equal(settled, before.settled + 1, 'the aborted scrape is still serialising (waiting for a drain that never comes)');
  // It stopped early: far less than the ~119 MB a full scrape writes.
  const written = chunkSizes.reduce((a, b) => a + b, 0);
  assert.ok(written < 60_000_000, `wrote ${written} characters after the scraper left`);
});
