/**
 * CountingBatchLogRecordProcessor behind a real LoggerProvider. The exporters are stand-ins (an exporter that is
 * told when to answer), since what is tested is how the processor treats an exporter that answers late, fails or
 * never answers; the real OTLP exporter against a refused port is in test/e2e/logs.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { CountingBatchLogRecordProcessor, type CountingBatchLogRecordProcessorOptions } from '../../processors/CountingBatchLogRecordProcessor';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_LOGS_DROPPED, METRIC_LOGS_EXPORTED } from '../../src/core/semconv';

let lines: string[] = [];
const logger: DiagLogger = {
  error: (m: string) => lines.push(`error ${m}`),
  warn: (m: string) => lines.push(m),
  info: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
};
beforeEach(() => {
  lines = [];
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
});
afterEach(() => diag.disable());

/** A stand-in exporter: records each batch and answers when the test says so (or at once, with `auto`). */
class ScriptedExporter implements LogRecordExporter {
  readonly batches: ReadableLogRecord[][] = [];
  private readonly _pending: ((r: ExportResult) => void)[] = [];
  shutdowns = 0;
  constructor(private readonly _auto?: ExportResult) {}
  export(logs: ReadableLogRecord[], cb: (r: ExportResult) => void): void {
    this.batches.push(logs);
    if (this._auto !== undefined) setImmediate(() => cb(this._auto as ExportResult));
    else this._pending.push(cb);
  }
  /** Answers the oldest export still waiting. */
  answer(result: ExportResult): void {
    const cb = this._pending.shift();
    assert.ok(cb !== undefined, 'no export is waiting for an answer');
    cb(result);
  }
  get waiting(): number {
    return this._pending.length;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
}

const OK: ExportResult = { code: ExportResultCode.SUCCESS };
const REFUSED: ExportResult = { code: ExportResultCode.FAILED, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') };

function setup(exporter: LogRecordExporter, options: Partial<CountingBatchLogRecordProcessorOptions> = {}) {
  const store = new MetricStore(resourceFromAttributes({}));
  const processor = new CountingBatchLogRecordProcessor({
    exporter,
    store,
    target: 'http://collector:4318/v1/logs',
    scheduledDelayMillis: 10,
    exportTimeoutMillis: 5000,
    maxQueueSize: 20,
    maxExportBatchSize: 5,
    ...options,
  });
  const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'test' }), processors: [processor] });
  const log = provider.getLogger('test');
  const counts = () => ({
    exported: store.counter(METRIC_LOGS_EXPORTED).get([]).value,
    queue_full: store.counter(METRIC_LOGS_DROPPED).get(['queue_full']).value,
    export_failed: store.counter(METRIC_LOGS_DROPPED).get(['export_failed']).value,
    shutdown: store.counter(METRIC_LOGS_DROPPED).get(['shutdown']).value,
  });
  const emit = (n: number, prefix = 'line') => {
    for (let i = 0; i < n; i++) log.emit({ body: `${prefix} ${i}` });
  };
  return { processor, provider, counts, emit };
}

const tick = () => new Promise((r) => setImmediate(r));
/** Waits (polling, up to 5 s) until `check()` holds; the machine may be busy, so no fixed sleep decides a test. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('full batches go out at once, the rest after the schedule delay; every record is counted as exported', async () => {
  const exporter = new ScriptedExporter(OK);
  const { counts, emit, processor } = setup(exporter, { scheduledDelayMillis: 30 });
  emit(12);
  // One export at a time: the first full batch left at once, the next waits for its answer.
  assert.deepEqual(exporter.batches.map((b) => b.length), [5]);
  await until(() => counts().exported === 12, '12 records exported');
  assert.deepEqual(exporter.batches.map((b) => b.length), [5, 5, 2]);
  assert.deepEqual(
    exporter.batches.flat().map((r) => r.body),
    Array.from({ length: 12 }, (_, i) => `line ${i}`)
  );
  assert.deepEqual(counts(), { exported: 12, queue_full: 0, export_failed: 0, shutdown: 0 });
  assert.equal(processor.queueLength, 0);
  assert.deepEqual(lines, []);
});

test('a full queue drops new records, counts each one, and says so once', async () => {
  const exporter = new ScriptedExporter();
  const { counts, emit } = setup(exporter);
  emit(5); // the first batch, held by the exporter
  await tick();
  assert.equal(exporter.waiting, 1);
  emit(20 + 7); // 20 fill the queue, 7 are dropped
  emit(3);
  assert.deepEqual(counts(), { exported: 0, queue_full: 10, export_failed: 0, shutdown: 0 });
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /^tenantscope: log queue full \(OTEL_BLRP_MAX_QUEUE_SIZE=20\): the export to http:\/\/collector:4318\/v1\/logs/);
  exporter.answer(OK);
  for (let i = 0; i < 4; i++) {
    await sleep(5);
    exporter.answer(OK);
  }
  await sleep(5);
  assert.deepEqual(counts(), { exported: 25, queue_full: 10, export_failed: 0, shutdown: 0 });
  assert.equal(lines.length, 1, lines.join('\n'));
});

test('failing exports: one line naming the target and the error, every record counted, one line on recovery', async () => {
  const exporter = new ScriptedExporter();
  const { counts, emit } = setup(exporter);
  emit(5);
  await tick();
  exporter.answer(REFUSED);
  // 5 leave as the next batch, 20 wait in the queue, 15 are dropped on the full queue: silently, since the
  // failure line already explains them.
  emit(40);
  for (let i = 0; i < 3; i++) {
    await tick();
    exporter.answer(REFUSED);
  }
  await tick();
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.equal(
    lines[0],
    'tenantscope: log export to http://collector:4318/v1/logs failed (Error: connect ECONNREFUSED 127.0.0.1:4318); ' +
      'log records are dropped and counted in tenantscope_logs_dropped_total until an export succeeds'
  );
  exporter.answer(OK);
  await tick();
  assert.deepEqual(counts(), { exported: 5, queue_full: 15, export_failed: 20, shutdown: 0 });
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.equal(lines[1], 'tenantscope: log export to http://collector:4318/v1/logs recovered; 35 log records were dropped while it failed');
});

test('an export that does not answer in time is counted as failed, and no second export starts until it answers', async () => {
  const exporter = new ScriptedExporter();
  const { counts, emit } = setup(exporter, { exportTimeoutMillis: 30 });
  emit(5);
  await tick();
  emit(5);
  await until(() => counts().export_failed === 5, 'the first batch counted as failed at its timeout');
  await sleep(50); // time for a second export to start, if the processor wrongly started one
  assert.equal(exporter.batches.length, 1, 'a second export started while the first was still in flight');
  assert.deepEqual(counts(), { exported: 0, queue_full: 0, export_failed: 5, shutdown: 0 });
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /failed \(Error: no answer within 30 ms\)/);
  // A late answer is not counted a second time; it frees the exporter for the next batch.
  exporter.answer(OK);
  await sleep(5);
  assert.equal(exporter.batches.length, 2);
  exporter.answer(OK);
  await tick();
  assert.deepEqual(counts(), { exported: 5, queue_full: 0, export_failed: 5, shutdown: 0 });
});

test('forceFlush exports everything queued and waits for it', async () => {
  const exporter = new ScriptedExporter(OK);
  const { counts, emit, provider } = setup(exporter, { scheduledDelayMillis: 60_000 });
  emit(13);
  await provider.forceFlush();
  assert.deepEqual(exporter.batches.map((b) => b.length), [5, 5, 3]);
  assert.deepEqual(counts(), { exported: 13, queue_full: 0, export_failed: 0, shutdown: 0 });
});

test('shutdown flushes, then shuts the exporter down; records left behind a hung export are counted', async () => {
  const healthy = new ScriptedExporter(OK);
  const a = setup(healthy, { scheduledDelayMillis: 60_000 });
  a.emit(7);
  await a.provider.shutdown();
  assert.deepEqual(a.counts(), { exported: 7, queue_full: 0, export_failed: 0, shutdown: 0 });
  assert.equal(healthy.shutdowns, 1);

  const hung = new ScriptedExporter();
  const b = setup(hung, { exportTimeoutMillis: 20 });
  b.emit(5);
  await tick();
  b.emit(4);
  await b.provider.shutdown();
  assert.deepEqual(b.counts(), { exported: 0, queue_full: 0, export_failed: 5, shutdown: 4 });
  assert.equal(hung.shutdowns, 1);
  assert.equal(lines.filter((l) => l.includes('still queued at shutdown')).length, 1, lines.join('\n'));
});

test('shutdown stops at the first failed export and counts what is left, instead of paying a timeout per batch', async () => {
  const exporter = new ScriptedExporter();
  const { counts, emit, provider } = setup(exporter, { maxQueueSize: 100 });
  emit(5);
  await tick();
  emit(12); // queued behind the batch in flight
  const down = provider.shutdown();
  await tick();
  exporter.answer(OK); // the batch in flight is delivered; shutdown sends the next one
  await sleep(5);
  exporter.answer(REFUSED); // that one fails: shutdown gives up on the other 7
  await down;
  assert.deepEqual(exporter.batches.map((b) => b.length), [5, 5]);
  assert.deepEqual(counts(), { exported: 5, queue_full: 0, export_failed: 5, shutdown: 7 });
  assert.equal(exporter.shutdowns, 1);
  assert.equal(lines.filter((l) => l.includes('7 log records were still queued at shutdown')).length, 1, lines.join('\n'));
});

test('shutdown while exports are failing sends nothing more: what is queued is counted at once', async () => {
  const exporter = new ScriptedExporter(REFUSED);
  const { counts, emit, provider } = setup(exporter, { scheduledDelayMillis: 60_000 });
  emit(5);
  await sleep(5);
  emit(3);
  await provider.shutdown();
  assert.deepEqual(exporter.batches.map((b) => b.length), [5]);
  assert.deepEqual(counts(), { exported: 0, queue_full: 0, export_failed: 5, shutdown: 3 });
});
