/**
 * An ES-module app (test/fixtures/esm-app.mjs: `import http from 'node:http'`, `import pg from 'pg'`) run with the one
 * preload flag, real PostgreSQL. It must get server and pg spans with tenant ids, and the SDK must start exactly once
 * (the loader hooks must not start a second copy): one Prometheus listener, one span per operation.
 * The CommonJS case (`--require`) is covered by pipeline.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';

const SERVER = 2;
const CLIENT = 3;

/** TCP ports process `pid` listens on, read from /proc (Linux): its socket inodes matched with LISTEN entries. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // fd closed while listing
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      if (inodes.has(cols[9])) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

const MIX: { id: string; tenant?: string; expect: string }[] = [
  { id: '1', tenant: 'acme', expect: 'acme' },
  { id: '2', tenant: 'acme', expect: 'acme' },
  { id: '3', tenant: 'globex', expect: 'globex' },
  { id: '4', tenant: '"}{bad', expect: 'invalid' },
  { id: '5', expect: 'unknown' },
];

for (const preload of ['import', 'require'] as const) {
  describe(`ESM app under --${preload} ./register.js`, () => {
    let receiver: OtlpReceiver;
    let app: RunningFixture;
    let appServer: (n: string) => ReceivedSpan | undefined;

    before(async () => {
      receiver = await startOtlpReceiver();
      app = await startFixture('esm-app.mjs', {
        preload,
        env: {
          OTEL_SERVICE_NAME: 'esm-app',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_METRICS_EXPORTER: 'prometheus',
          OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
          // Port 0: a second start would bind a second port instead of failing quietly on the first.
          OTEL_EXPORTER_PROMETHEUS_PORT: '0',
        },
      });
      for (const m of MIX) {
        const headers: Record<string, string> = m.tenant === undefined ? {} : { 'x-tenant-id': m.tenant };
        const res = await fetch(`http://127.0.0.1:${app.port}/v1/conversations/${m.id}`, { headers });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { id: m.id });
      }
      appServer = (id) => receiver.spans.find((s) => s.kind === SERVER && s.attributes['url.path'] === `/v1/conversations/${id}`);
      await receiver.waitFor(
        () => receiver.spans.filter((s) => s.kind === SERVER).length >= MIX.length && receiver.spans.filter((s) => s.name.startsWith('pg.query')).length >= MIX.length,
        10000,
        'server and pg spans'
      );
    });

    after(async () => {
      await app?.stop();
      await receiver?.close();
    });

    it('every request has one server span and one pg query span, both with the tenant of its header', () => {
      assert.equal(receiver.spans.filter((s) => s.kind === SERVER).length, MIX.length);
      for (const m of MIX) {
        const server = appServer(m.id);
        assert.ok(server, `server span of /v1/conversations/${m.id}`);
        assert.equal(server.attributes['tenant.id'], m.expect);
        const queries = receiver.spans.filter((s) => s.traceId === server.traceId && s.name.startsWith('pg.query'));
        assert.deepEqual(
          queries.map((q) => [q.name, q.kind, q.attributes['db.query.text'], q.attributes['tenant.id']]),
          [['pg.query:SELECT postgres', CLIENT, 'SELECT $1::text AS id', m.expect]]
        );
        assert.equal(queries[0].parentSpanId, server.spanId);
      }
    });

    it('the SDK started once: exactly one Prometheus listener beside the app, counting each request once', async () => {
      const ports = listeningPorts(app.proc.pid!);
      assert.equal(ports.length, 2, `listening ports ${ports.join(', ')}`);
      assert.ok(ports.includes(app.port));
      const prom = ports.find((p) => p !== app.port)!;
      const samples = parseMetrics(await scrape(prom));
      // No framework route here: the normaliser folds the numeric ids.
      const t = (tenant: string): number => sumOf(samples, 'http_requests_total', { endpoint: '/v1/conversations/:id', tenant_id: tenant, status: '200' });
      assert.deepEqual([t('acme'), t('globex'), t('invalid'), t('unknown')], [2, 1, 1, 1]);
      assert.equal(sumOf(samples, 'http_requests_total'), MIX.length);
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT', span_name: 'pg.query:SELECT postgres', tenant_id: 'acme' }), 2);
    });

    it('prints nothing on stderr', () => {
      assert.equal(app.stderr(), '');
    });
  });
}
