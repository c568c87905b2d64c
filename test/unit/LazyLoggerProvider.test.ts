/**
 * LazyLoggerProvider: the SDK logger provider is built at the first record or `enabled` question of any logger it
 * handed out, once; flush and shutdown before that reach the processors made at start and build nothing; a logger
 * after shutdown is a no-op; a failing build is one line and no-op loggers. The real provider under the preload (the
 * first pino record ships with its trace and tenant) is in test/e2e/lazyExporters.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SeverityNumber } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LazyLoggerProvider, type Flushable } from '../../src/core/export/LazyLoggerProvider';
import { DiagLines } from '../helpers/faults';

/** A processor made at start: records its flush and shutdown calls. */
class Calls implements Flushable {
  readonly calls: string[] = [];
  forceFlush(): Promise<void> {
    this.calls.push('forceFlush');
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.calls.push('shutdown');
    return Promise.resolve();
  }
}

function sdkProvider(exporter: InMemoryLogRecordExporter): LoggerProvider {
  return new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'lazy-logs' }), processors: [new SimpleLogRecordProcessor({ exporter })] });
}

test('getLogger builds nothing; the first emit builds the provider once and every logger handed out before it ships through it', async () => {
  const exporter = new InMemoryLogRecordExporter();
  let builds = 0;
  const lazy = new LazyLoggerProvider(() => {
    builds++;
    return sdkProvider(exporter);
  }, []);
  const a = lazy.getLogger('a', '1.0.0');
  const b = lazy.getLogger('b');
  assert.equal(builds, 0);
  assert.equal(lazy.built, false);
  a.emit({ body: 'one', severityNumber: SeverityNumber.INFO, attributes: { n: 1 } });
  assert.equal(builds, 1);
  assert.equal(lazy.built, true);
  b.emit({ body: 'two' });
  a.emit({ body: 'three' });
  lazy.getLogger('c').emit({ body: 'four' });
  assert.equal(builds, 1);
  const records = exporter.getFinishedLogRecords();
  assert.deepEqual(
    records.map((r) => [r.instrumentationScope.name, r.instrumentationScope.version, r.body]),
    [
      ['a', '1.0.0', 'one'],
      ['b', undefined, 'two'],
      ['a', '1.0.0', 'three'],
      ['c', undefined, 'four'],
    ]
  );
  assert.deepEqual(records[0].attributes, { n: 1 });
  await lazy.shutdown();
});

test('enabled() builds the provider and answers with the SDK logger', () => {
  let builds = 0;
  const lazy = new LazyLoggerProvider(() => {
    builds++;
    return sdkProvider(new InMemoryLogRecordExporter());
  }, []);
  const logger = lazy.getLogger('a');
  assert.equal(logger.enabled({ context: ROOT_CONTEXT, severityNumber: SeverityNumber.INFO }), true);
  assert.equal(builds, 1);
});

test('forceFlush and shutdown before any record reach the processors made at start and build nothing; loggers after that are no-ops', async () => {
  let builds = 0;
  const p1 = new Calls();
  const p2 = new Calls();
  const lazy = new LazyLoggerProvider(() => {
    builds++;
    return sdkProvider(new InMemoryLogRecordExporter());
  }, [p1, p2]);
  const early = lazy.getLogger('early');
  await lazy.forceFlush();
  await lazy.shutdown();
  assert.deepEqual(p1.calls, ['forceFlush', 'shutdown']);
  assert.deepEqual(p2.calls, ['forceFlush', 'shutdown']);
  early.emit({ body: 'after shutdown' });
  lazy.getLogger('late').emit({ body: 'after shutdown' });
  assert.equal(lazy.getLogger('late').enabled(), false);
  assert.equal(builds, 0);
  assert.equal(lazy.built, false);
});

test('after the build, forceFlush and shutdown go to the SDK provider (which flushes its processors) and not to the list', async () => {
  const exporter = new InMemoryLogRecordExporter();
  const start = new Calls();
  const lazy = new LazyLoggerProvider(() => sdkProvider(exporter), [start]);
  lazy.getLogger('a').emit({ body: 'x' });
  await lazy.forceFlush();
  await lazy.shutdown();
  assert.deepEqual(start.calls, []);
  assert.equal(exporter.getFinishedLogRecords().length, 0); // the in-memory exporter resets at its shutdown
  lazy.getLogger('a').emit({ body: 'after shutdown' });
  assert.equal(exporter.getFinishedLogRecords().length, 0);
});

test('a build that throws is one warning line, not retried; its loggers are no-ops and nothing throws into the app', () => {
  const lines = new DiagLines().install();
  let builds = 0;
  const lazy = new LazyLoggerProvider(() => {
    builds++;
    throw new Error('sdk-logs missing');
  }, []);
  const a = lazy.getLogger('a');
  a.emit({ body: 'one' });
  a.emit({ body: 'two' });
  lazy.getLogger('b').emit({ body: 'three' });
  assert.equal(a.enabled(), false);
  assert.equal(builds, 1);
  assert.deepEqual(lines.take(), ['tenantscope: could not build the logger provider (Error: sdk-logs missing); log records are not shipped']);
});
