/**
 * instrumentations/pg/ against upstream instrumentation-pg: the same pg calls (promise, callback, query-config
 * callback, named statement, server errors by promise and by callback, a synchronous throw, `Pool.connect` by
 * promise and by callback, a pool from a connection string and one from options, no parent span) against a real
 * PostgreSQL, once under each, in a child process each (test/fixtures/pg-scenarios.js): the spans (name, kind,
 * scope, attributes, status, exception events, parent) and the span active in every callback must be the same.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import type { PgInstrumentationConfig } from '@opentelemetry/instrumentation-pg';
import { LeanPgInstrumentation } from '../../instrumentations/pg/instrumentation';
import { FIXTURES } from '../helpers/fixture';

interface Recorded {
  spans: { name: string; kind: number; scope: string; attributes: Record<string, unknown>; status: { code: number; message?: string }; events: unknown[]; parent: string | null }[];
  seen: { label: string; active: string | null }[];
}

async function run(mode: 'lean' | 'upstream'): Promise<Recorded> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(FIXTURES, 'pg-scenarios.js'), mode], {
    env: { ...process.env, TEST_PG_URL: process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as Recorded;
}

const sorted = (r: Recorded): string[] => r.spans.map((s) => JSON.stringify(s)).sort();

describe('lean pg patches (instrumentations/pg/)', () => {
  it('make the spans upstream instrumentation-pg makes, with the same context in every callback', async () => {
    const [lean, upstream] = await Promise.all([run('lean'), run('upstream')]);
    assert.deepEqual(sorted(lean), sorted(upstream));
    assert.deepEqual(lean.seen, upstream.seen);
    // Not vacuous: what the scenarios make.
    assert.equal(lean.spans.length, 20);
    const pg = lean.spans.filter((s) => s.scope === '@opentelemetry/instrumentation-pg');
    assert.equal(pg.filter((s) => s.name === 'pg-pool.connect').length, 5);
    assert.equal(pg.filter((s) => s.name === 'pg.connect').length, 2);
    assert.ok(pg.every((s) => s.kind === SpanKind.CLIENT));
    const plan = pg.find((s) => s.name === 'pg.query:plan_one postgres');
    assert.deepEqual(plan?.attributes, {
      'db.system.name': 'postgresql',
      'db.namespace': 'postgres',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(process.env.TEST_PG_URL ?? 'postgres://x@127.0.0.1:5432/postgres').port),
      'db.query.text': 'SELECT $1::int AS n',
      'db.postgresql.plan': 'plan_one',
    });
    assert.equal(plan?.parent, 'named');
    const broken = pg.find((s) => s.attributes['db.query.text'] === 'SELEC broken');
    assert.deepEqual(broken?.status, { code: 2, message: 'syntax error at or near "SELEC"' });
    assert.deepEqual(broken?.events, [{ name: 'exception', attributes: { 'exception.message': "PostgreSQL error of type 'error' occurred (code: 42601)" } }]);
    const thrown = pg.find((s) => s.name === 'pg.query');
    assert.deepEqual(thrown?.status, { code: 2, message: 'Client was passed a null or undefined query' });
    assert.deepEqual(lean.seen, [
      { label: 'callback', active: 'callback' },
      { label: 'after connect', active: 'named' },
      { label: 'config callback', active: 'named' },
      { label: 'error callback 42601', active: 'named' },
      { label: 'sync throw TypeError', active: 'named' },
      { label: 'pool callback', active: 'pool callback' },
    ]);
  });

  it("hands over to upstream's patches when upstream's histograms or any patch-level option is wanted", () => {
    const patchOf = (i: LeanPgInstrumentation): string => String((i as unknown as { _getClientQueryPatch(): unknown })._getClientQueryPatch());
    const lean = patchOf(new LeanPgInstrumentation({ enabled: false }));
    const withHistogram = patchOf(new LeanPgInstrumentation({ enabled: false, recordDuration: true }));
    const options: PgInstrumentationConfig[] = [{ requireParentSpan: true }, { requestHook: () => undefined }, { enhancedDatabaseReporting: true }, { ignoreConnectSpans: true }];
    assert.match(lean, /operationName/);
    assert.doesNotMatch(withHistogram, /operationName/);
    assert.match(withHistogram, /recordOperationDuration|handleConfigQuery/);
    for (const o of options) assert.doesNotMatch(patchOf(new LeanPgInstrumentation({ ...o, enabled: false })), /operationName/, JSON.stringify(Object.keys(o)));
    assert.match(patchOf(new LeanPgInstrumentation({ enhancedDatabaseReporting: false, enabled: false })), /operationName/);
  });
});
