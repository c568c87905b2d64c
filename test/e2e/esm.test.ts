/**
 * An ES-module app (test/fixtures/esm-app.mjs: `import http from 'node:http'`, `import pg from 'pg'`) run with the one
 * preload flag, real PostgreSQL. It must get server and pg spans with tenant ids, and the SDK must start exactly once
 * (the loader hooks must not start a second copy): one Prometheus listener, one span per operation.
 * Also the same app imported from a CommonJS entry after start-up. The CommonJS case (`--require`) is covered by
 * pipeline.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
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

// The third case: a CommonJS entry that imports the ESM app after start-up (its first `import`), where the preload
// registers import-in-the-middle's hooks (src/register.ts) and must still wrap `pg` and `node:http` for the app.
for (const [preload, entry] of [
  ['import', 'esm-app.mjs'],
  ['require', 'esm-app.mjs'],
  ['require', 'esm-from-cjs.js'],
] as const) {
  describe(`ESM app (${entry}) under --${preload} ./register.js`, () => {
    let receiver: OtlpReceiver;
    let app: RunningFixture;
    let appServer: (n: string) => ReceivedSpan | undefined;

    before(async () => {
      receiver = await startOtlpReceiver();
      app = await startFixture(entry, {
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

// Named imports of a built-in (`import { get } from 'node:http'`) are patched only through import-in-the-middle's
// hooks, which the preload registers at the first import: of the ESM entry, of an ES module a CommonJS app imports
// later, or of `node:http` itself as a CommonJS script's first import (resolved by import-in-the-middle's own hook).
describe('named imports of node:http from ES modules get client spans', () => {
  for (const [preload, entry] of [
    ['import', 'esm-named-import.mjs'],
    ['require', 'esm-named-import.mjs'],
    ['require', 'esm-first-import.js'],
  ] as const) {
    it(`${entry} under --${preload}: the GET carries the client span's traceparent, exported as a CLIENT span`, async () => {
      const receiver = await startOtlpReceiver();
      const seen: IncomingHttpHeaders[] = [];
      const target = createServer((req, res) => {
        seen.push(req.headers);
        res.end('ok');
      });
      await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
      try {
        const app = await startFixture(entry, {
          preload,
          waitForListening: false,
          env: {
            OTEL_SERVICE_NAME: 'esm-named-import',
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_METRICS_EXPORTER: 'none',
            OTEL_LOGS_EXPORTER: 'none',
            TARGET_URL: `http://127.0.0.1:${(target.address() as AddressInfo).port}/ping`,
          },
        });
        assert.deepEqual(await app.exited, { code: 0, signal: null }, app.stderr());
        assert.equal(app.stdout(), 'DONE 200\n');
        assert.equal(app.stderr(), '');
        assert.equal(seen.length, 1);
        const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen[0].traceparent));
        assert.ok(m, `traceparent ${String(seen[0].traceparent)}`);
        const client = receiver.spans.filter((s) => s.kind === CLIENT);
        assert.deepEqual(
          client.map((s) => [s.name, s.traceId, s.spanId, s.attributes['url.full'], s.attributes['http.response.status_code']]),
          [['GET', m[1], m[2], `http://127.0.0.1:${(target.address() as AddressInfo).port}/ping`, 200]]
        );
      } finally {
        target.close();
        await receiver.close();
      }
    });
  }
});
