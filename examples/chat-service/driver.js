'use strict';
// Traffic driver for the example chat service: each tenant keeps a live WebSocket open (/v1/live) for its
// notifications; tenants open conversations, send messages (each answered by a model reply, the second streamed
// as server-sent events), read them back (the first read after a message misses the Redis cache, later ones hit),
// queue a summary job (RabbitMQ; the worker's result arrives on the live socket), close the conversation, sometimes
// ask for a summary or read another tenant's conversation (404). Against the model stand-in the summariser is
// overloaded (503) for about one conversation in three, which ones fixed by their content: the messages this
// driver writes depend only on the tenant's place in DRIVER_TENANTS and the session number, so every tenant sees
// some 503s and the same run fails the same way. So every part of the service's telemetry moves: RED, cache,
// database, queue, WebSocket, streamed-reply, conversation and model families. In the compose stack it runs for
// ever under `node --require tenantscope/register`, so its own client spans reach Jaeger too; tests run it bounded.
//
//   TARGET_URL=http://127.0.0.1:8080 node examples/chat-service/driver.js
//
// Env:
//   TARGET_URL             chat service base URL (default http://127.0.0.1:8080)
//   DRIVER_TENANTS         comma list of tenants (default acme,globex,initech)
//   DRIVER_CONCURRENCY     sessions in flight (default 4)
//   DRIVER_SESSIONS        stop after this many sessions (default 0: never)
//   DRIVER_PAUSE_MS        pause between two requests of a session (default 200)
//   DRIVER_SUMMARY_EVERY   every Nth session of a tenant asks for a summary after each of its messages
//                          (default 4; 0: never)
//   DRIVER_ERROR_BURST     `tenant:onSeconds:everySeconds`: during the first onSeconds of every everySeconds,
//                          that tenant does so in every session, so (with about one summary in three shed) its
//                          error ratio crosses the TenantErrorRatioHigh threshold and the alert fires (default
//                          initech:600:1800; `off`). Real model APIs seldom fail: with API keys set the alert
//                          may stay silent.
// Prints one line per 100 requests and a summary when it stops (SIGTERM/SIGINT or DRIVER_SESSIONS reached):
// requests by status and `notified:N`, the summaries that came back on the live sockets.

const TARGET = (process.env.TARGET_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const TENANTS = (process.env.DRIVER_TENANTS ?? 'acme,globex,initech').split(',').map((t) => t.trim()).filter(Boolean);
const CONCURRENCY = intEnv('DRIVER_CONCURRENCY', 4);
const SESSIONS = intEnv('DRIVER_SESSIONS', 0);
const PAUSE_MS = intEnv('DRIVER_PAUSE_MS', 200);
const SUMMARY_EVERY = intEnv('DRIVER_SUMMARY_EVERY', 4);
const BURST = parseBurst(process.env.DRIVER_ERROR_BURST ?? 'initech:600:1800');

function intEnv(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`driver: ${name}=${raw} is not a non-negative integer; using ${dflt}`);
    return dflt;
  }
  return n;
}

function parseBurst(raw) {
  if (raw === 'off' || raw === '') return undefined;
  const m = /^([^:]+):(\d+):(\d+)$/.exec(raw);
  if (!m || Number(m[3]) === 0) {
    console.error(`driver: DRIVER_ERROR_BURST=${raw} is not tenant:onSeconds:everySeconds; no bursts`);
    return undefined;
  }
  return { tenant: m[1], on: Number(m[2]) * 1000, every: Number(m[3]) * 1000 };
}

const started = Date.now();
const counts = { requests: 0, byStatus: new Map(), notified: 0 };
let stopping = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function inBurst(tenant) {
  return BURST !== undefined && BURST.tenant === tenant && (Date.now() - started) % BURST.every < BURST.on;
}

async function call(tenant, method, path, body) {
  const headers = { 'x-tenant-id': tenant };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let status = 0;
  try {
    const r = await fetch(TARGET + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    status = r.status;
    const text = await r.text();
    counts.requests++;
    counts.byStatus.set(status, (counts.byStatus.get(status) ?? 0) + 1);
    if (counts.requests % 100 === 0) console.log(`driver: ${counts.requests} requests ${summary()}`);
    return { status, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  } catch (err) {
    counts.byStatus.set('failed', (counts.byStatus.get('failed') ?? 0) + 1);
    console.error(`driver: ${method} ${path}: ${err.message}`);
    await sleep(1000); // the service is not up yet (or restarting): back off
    return { status, json: undefined };
  }
}

function summary() {
  return [...counts.byStatus].map(([s, n]) => `${s}:${n}`).join(' ') + ` notified:${counts.notified}`;
}

/** tenant → its live socket (Node's WebSocket client; the header names the tenant, as for HTTP calls). */
const live = new Map();

/** Opens the tenant's live socket; resolves once it is open (or failed: the driver goes on without it). */
function openLive(tenant) {
  return new Promise((resolve) => {
    const ws = new WebSocket(TARGET.replace(/^http/, 'ws') + '/v1/live', { headers: { 'x-tenant-id': tenant } });
    ws.onopen = () => {
      live.set(tenant, ws);
      resolve();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string' && ev.data.includes('"summary"')) counts.notified++;
    };
    ws.onerror = () => {
      console.error(`driver: live socket for ${tenant} failed`);
      resolve();
    };
    ws.onclose = () => {
      live.delete(tenant);
      // The service restarted (compose): open it again, as a client would.
      if (!stopping) setTimeout(() => void openLive(tenant), 1000).unref();
    };
  });
}

const lastIds = new Map();
const sessionsOf = new Map();

/**
 * One conversation: create, three messages (the second streamed) each followed by two reads (and sometimes a
 * summary), a summary job, the close; sometimes a foreign read (404).
 */
async function session(tenant) {
  const n = (sessionsOf.get(tenant) ?? 0) + 1;
  sessionsOf.set(tenant, n);
  const created = await call(tenant, 'POST', '/v1/conversations', { title: `${tenant} chat ${n}` });
  if (created.status !== 201) return;
  const id = created.json.id;
  const summaries = inBurst(tenant) || (SUMMARY_EVERY > 0 && n % SUMMARY_EVERY === 0);
  for (let m = 0; m < 3 && !stopping; m++) {
    const words = 5 + ((n * 7 + m * 13 + TENANTS.indexOf(tenant) * 29) % 60);
    const text = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
    await call(tenant, 'POST', `/v1/conversations/${id}/messages${m === 1 ? '?stream=1' : ''}`, { text });
    await sleep(PAUSE_MS);
    await call(tenant, 'GET', `/v1/conversations/${id}`); // miss: the message invalidated the cache
    await call(tenant, 'GET', `/v1/conversations/${id}`); // hit
    if (summaries) await call(tenant, 'POST', `/v1/conversations/${id}/summarize`);
    await sleep(PAUSE_MS);
  }
  if (stopping) return;
  await call(tenant, 'POST', `/v1/conversations/${id}/summary-jobs`);
  await call(tenant, 'POST', `/v1/conversations/${id}/close`, { resolution: n % 3 === 0 ? 'escalated' : 'resolved' });
  const other = lastIds.get(TENANTS[(TENANTS.indexOf(tenant) + 1) % TENANTS.length]);
  if (other !== undefined && n % 5 === 0) await call(tenant, 'GET', `/v1/conversations/${other}`); // 404
  lastIds.set(tenant, id);
}

async function main() {
  console.log(`driver: ${TARGET}, tenants ${TENANTS.join(',')}, ${CONCURRENCY} sessions in flight${SESSIONS ? `, ${SESSIONS} sessions` : ''}`);
  await Promise.all(TENANTS.map(openLive));
  let next = 0;
  const worker = async () => {
    while (!stopping && (SESSIONS === 0 || next < SESSIONS)) {
      const tenant = TENANTS[next++ % TENANTS.length];
      await session(tenant);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // The last summary jobs' notifications come back within a moment; then the sockets close.
  await sleep(500);
  stopping = true;
  for (const ws of live.values()) ws.close(1000, 'driver done');
  console.log(`driver: done, ${counts.requests} requests ${summary()}`);
}

for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => (stopping = true));
main().catch((err) => {
  console.error(`driver failed: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
});
