'use strict';
// `npm run demo`: starts PostgreSQL, Redis and RabbitMQ the way the tests do, and the model stand-in (OpenAI and
// Anthropic wire format, deterministic usage; examples/chat-service/model-standin.js), runs the example chat
// service under `node --require ./register.js`, drives a short, bounded traffic run over three tenants (every
// message answered by a streamed OpenAI chat completion, some streamed on to the client as server-sent events;
// summaries by Anthropic, now or as jobs through RabbitMQ with their notifications over a WebSocket; 5xx answers
// when the summariser is overloaded, a few 404s, conversations left open or closed), then scrapes the service's
// /metrics and prints two per-tenant tables and a few lines computed only from what /metrics serves. It checks
// them against what the driver sent and saw and what the model stand-in returned, and exits 1 if they differ.
const { spawn } = require('node:child_process');
const { join, resolve } = require('node:path');
const WebSocket = require('ws');

const ROOT = resolve(__dirname, '..', '..');
const { startServices, freePort } = require(join(ROOT, 'build', 'test', 'helpers', 'services.js'));
const { startModelStandin } = require(join(ROOT, 'examples', 'chat-service', 'model-standin.js'));
const models = require('./models.js');

const SERVICE = 'chat-service';
/** Hard bound on the traffic run; the plan below normally takes well under it. */
const DRIVE_DEADLINE_MS = 30_000;
const CONCURRENCY = 6;

/** A queue of this run's own: another demo running on the same broker must not take its jobs. */
const SUMMARY_QUEUE = `chat.summaries.demo${process.pid}`;
/** How long the driver waits for the last summary notifications after its traffic. */
const NOTICE_WAIT_MS = 10_000;

/**
 * Per tenant: conversations, messages and reads per conversation, message length range (words; the stand-in
 * model answers in 40 ms + 4 ms per word), conversations summarised at once (Anthropic; 503 when the stand-in
 * sheds the request, about one conversation in three, fixed by its content), reads of a conversation that is not
 * theirs (404 on a route), requests to a path with no route (404); messages per conversation whose reply is
 * streamed to the client (SSE), conversations given a summary job (RabbitMQ; the worker summarises with Anthropic
 * too), and conversations closed (the rest stay live). Every third conversation is on the `whatsapp` channel.
 */
const PLAN = {
  acme: { conversations: 12, messages: 4, reads: 6, words: [20, 140], summarize: 4, notTheirs: 3, noRoute: 2, streamed: 2, jobs: 6, closed: 9 },
  globex: { conversations: 8, messages: 3, reads: 5, words: [5, 30], summarize: 1, notTheirs: 2, noRoute: 1, streamed: 1, jobs: 3, closed: 6 },
  initech: { conversations: 5, messages: 2, reads: 4, words: [10, 80], summarize: 5, notTheirs: 1, noRoute: 1, streamed: 2, jobs: 2, closed: 2 },
};

// ---------------------------------------------------------------------------------------------------------
// Child process and HTTP plumbing

function startChatService(env) {
  const proc = spawn(process.execPath, ['--require', join(ROOT, 'register.js'), join(ROOT, 'examples', 'chat-service', 'server.js')], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const ready = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`chat service did not start within 20 s:\n${out}`)), 20_000);
    const onData = () => {
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        res(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    exited.then(({ code }) => {
      clearTimeout(timer);
      rej(new Error(`chat service exited (code ${code}) before it was ready:\n${out}`));
    });
  });
  return { proc, ready, exited, output: () => out };
}

/**
 * Deterministic pseudo-random numbers of one session (a tenant's `index`th conversation), so every run sends the
 * same messages in each conversation however the sessions interleave, and the model stand-in, which decides by
 * content, sheds the same summaries.
 */
function sessionRandom(tenantIndex, index) {
  let s = Math.imul(tenantIndex * 1000 + index + 1, 0x9e3779b1) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// ---------------------------------------------------------------------------------------------------------
// The driver: runs each conversation as a short session, a few sessions at a time, and records what it saw.

class Driver {
  constructor(port) {
    this.base = `http://127.0.0.1:${port}`;
    this.deadline = Date.now() + DRIVE_DEADLINE_MS;
    /** tenant → what the driver sent and saw (see `stats`) */
    this.seen = new Map();
    /** tenant → its live WebSocket */
    this.sockets = new Map();
  }

  stats(tenant) {
    let s = this.seen.get(tenant);
    if (s === undefined) {
      s = {
        requests: 0,
        errors: 0,
        notFound: 0,
        byEndpoint: new Map(),
        latencies: [],
        cacheHits: 0,
        cacheMisses: 0,
        pg: 0,
        redis: 0,
        /** conversations started and closed, by channel */
        started: new Map(),
        closed: new Map(),
        messages: 0,
        streamed: 0,
        /** SSE data events the streamed replies brought (the model's pieces, passed on one by one) */
        pieces: 0,
        firstBytes: [],
        /** POST …/summarize answered 200 / 503 */
        summaries: 0,
        summaryErrors: 0,
        jobs: 0,
        /** summary notifications: stored, and failed (the model call failed) */
        notices: 0,
        noticesFailed: 0,
        /** `OPERATION table` (PostgreSQL) and redis command → how many the driver's requests caused */
        queries: new Map(),
      };
      this.seen.set(tenant, s);
    }
    return s;
  }

  /** Opens each tenant's live socket (summary notifications arrive on it). */
  async openSockets() {
    const port = new URL(this.base).port;
    await Promise.all(
      Object.keys(PLAN).map(
        (tenant) =>
          new Promise((res, rej) => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/live`, { headers: { 'x-tenant-id': tenant } });
            ws.on('message', (m) => {
              const event = JSON.parse(String(m));
              const s = this.stats(tenant);
              if (event.type === 'summary') {
                // The worker stored the summary before it notified.
                s.notices++;
                s.pg++;
                count(s.queries, 'INSERT chat_summaries');
              } else if (event.type === 'summary_failed') {
                s.noticesFailed++;
              }
            });
            ws.once('open', () => res());
            ws.once('error', rej);
            this.sockets.set(tenant, ws);
          })
      )
    );
  }

  /** Waits (bounded) until every summary job has been notified, then closes the sockets. */
  async closeSockets() {
    const end = Date.now() + NOTICE_WAIT_MS;
    while ([...this.seen.values()].some((s) => s.notices + s.noticesFailed < s.jobs) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.sockets.values()].map((ws) => new Promise((r) => (ws.once('close', r), ws.close()))));
  }

  /** One request; `endpoint` is the label we expect tenantscope to give it (route template or `unmatched`). */
  async call(tenant, method, path, endpoint, body) {
    if (Date.now() > this.deadline) throw new Error(`traffic run passed its ${DRIVE_DEADLINE_MS} ms bound`);
    const headers = { 'x-tenant-id': tenant };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t0 = performance.now();
    const r = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    // Headers come with the first body byte: for a stream, this is the time to first byte.
    const headersMs = performance.now() - t0;
    const text = await r.text();
    const ms = performance.now() - t0;
    const s = this.stats(tenant);
    s.requests++;
    if (r.status >= 500) s.errors++;
    if (r.status === 404) s.notFound++;
    const key = `${method} ${endpoint}`;
    s.byEndpoint.set(key, (s.byEndpoint.get(key) ?? 0) + 1);
    s.latencies.push(ms / 1000);
    const cache = r.headers.get('x-cache');
    if (cache === 'hit') s.cacheHits++;
    if (cache === 'miss') s.cacheMisses++;
    const { pg, redis } = dbCalls(key, r.status, cache);
    s.pg += pg.length;
    s.redis += redis.length;
    for (const q of [...pg, ...redis]) count(s.queries, q);
    if (key === 'POST /v1/conversations/:id/summarize') {
      if (r.status === 200) s.summaries++;
      if (r.status === 503) s.summaryErrors++;
    }
    if (r.headers.get('content-type')?.startsWith('text/event-stream')) {
      s.streamed++;
      s.firstBytes.push(headersMs / 1000);
      s.pieces += text.split('\n').filter((line) => line.startsWith('data: "')).length;
    }
    return { status: r.status, json: text.startsWith('{') ? JSON.parse(text) : undefined, text };
  }

  /**
   * A conversation: create it, alternate messages (the first few streamed) and reads (the first read after a
   * message misses the cache), then the odd failing summary, a summary job, a foreign read, a path with no route,
   * and closing it.
   */
  async session(tenant, plan, index, random, foreignId) {
    const channel = index % 3 === 2 ? 'whatsapp' : 'web';
    const s = this.stats(tenant);
    const created = await this.call(tenant, 'POST', '/v1/conversations', '/v1/conversations', { title: `${tenant} chat ${index}`, channel });
    if (created.status !== 201) throw new Error(`creating a conversation for ${tenant} answered ${created.status}`);
    s.started.set(channel, (s.started.get(channel) ?? 0) + 1);
    const id = created.json.id;
    const readsAfter = spread(plan.reads, plan.messages);
    for (let m = 0; m < plan.messages; m++) {
      const [lo, hi] = plan.words;
      const words = lo + Math.floor(random() * (hi - lo + 1));
      const text = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
      const stream = m < plan.streamed;
      const sent = await this.call(tenant, 'POST', `/v1/conversations/${id}/messages${stream ? '?stream=1' : ''}`, '/v1/conversations/:id/messages', { text, channel });
      if (sent.status !== (stream ? 200 : 201) || (stream && !sent.text.includes('event: done'))) throw new Error(`a message for ${tenant} answered ${sent.status}`);
      s.messages++;
      for (let r = 0; r < readsAfter[m]; r++) await this.call(tenant, 'GET', `/v1/conversations/${id}`, '/v1/conversations/:id');
    }
    if (index < plan.summarize) {
      const summarized = await this.call(tenant, 'POST', `/v1/conversations/${id}/summarize`, '/v1/conversations/:id/summarize');
      if (summarized.status !== 200 && summarized.status !== 503) throw new Error(`a summary for ${tenant} answered ${summarized.status}`);
    }
    if (index < plan.jobs) {
      const queued = await this.call(tenant, 'POST', `/v1/conversations/${id}/summary-jobs`, '/v1/conversations/:id/summary-jobs');
      if (queued.status !== 202) throw new Error(`a summary job for ${tenant} answered ${queued.status}`);
      s.jobs++;
    }
    if (index < plan.notTheirs && foreignId !== undefined) {
      // Another tenant's conversation: the app scopes by tenant and answers 404 (a 4xx, not an error).
      await this.call(tenant, 'GET', `/v1/conversations/${foreignId}`, '/v1/conversations/:id');
    }
    if (index < plan.noRoute) await this.call(tenant, 'GET', `/v1/conversation/${id}`, 'unmatched');
    if (index < plan.closed) {
      const resolution = index % 4 === 3 ? 'escalated' : 'resolved';
      const closed = await this.call(tenant, 'POST', `/v1/conversations/${id}/close`, '/v1/conversations/:id/close', { resolution, channel });
      if (closed.status !== 200) throw new Error(`closing a conversation for ${tenant} answered ${closed.status}`);
      s.closed.set(channel, (s.closed.get(channel) ?? 0) + 1);
    }
    return id;
  }

  async run() {
    // One seed conversation per tenant first, so each tenant has someone else's id to try.
    const firstIds = {};
    const tenants = Object.keys(PLAN);
    for (const [i, t] of tenants.entries()) firstIds[t] = await this.session(t, PLAN[t], 0, sessionRandom(i, 0), undefined);
    // Each seed session could not try a foreign id yet: make up for it with one read each.
    for (let i = 0; i < tenants.length; i++) {
      const t = tenants[i];
      if (PLAN[t].notTheirs > 0) await this.call(t, 'GET', `/v1/conversations/${firstIds[tenants[(i + 1) % tenants.length]]}`, '/v1/conversations/:id');
    }
    // Round-robin over tenants, so they share the service at the same time, as in production.
    const perTenant = tenants.map((t, i) => {
      const foreign = firstIds[tenants[(i + 1) % tenants.length]];
      const list = [];
      for (let c = 1; c < PLAN[t].conversations; c++) list.push(() => this.session(t, PLAN[t], c, sessionRandom(i, c), foreign));
      return list;
    });
    const jobs = [];
    for (let k = 0; perTenant.some((l) => k < l.length); k++) for (const l of perTenant) if (k < l.length) jobs.push(l[k]);
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) await jobs[next++]();
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }
}

/**
 * The pg queries (`OPERATION table`, as database_query_duration_seconds labels them) and redis commands the chat
 * service makes for one answered request (see its routes). A summary job's INSERT is counted when its
 * notification says it was stored.
 */
function dbCalls(key, status, cache) {
  const found = 'SELECT chat_conversations';
  switch (key) {
    case 'POST /v1/conversations':
      return { pg: ['INSERT chat_conversations'], redis: [] };
    case 'POST /v1/conversations/:id/messages':
      // The SELECT, the INSERT of both messages and the cache DEL; or the SELECT that found nothing.
      return status === 201 || status === 200 ? { pg: [found, 'INSERT chat_messages'], redis: ['del'] } : { pg: [found], redis: [] };
    case 'POST /v1/conversations/:id/summarize':
      return status === 404 ? { pg: [found], redis: [] } : { pg: [found, 'SELECT chat_messages'], redis: [] };
    case 'POST /v1/conversations/:id/summary-jobs':
      // The SELECT, then the worker's SELECT of the messages: it runs in the consumer, under the tenant the message carried.
      return status === 202 ? { pg: [found, 'SELECT chat_messages'], redis: [] } : { pg: [found], redis: [] };
    case 'POST /v1/conversations/:id/close':
      return { pg: ['INSERT chat_closures'], redis: [] }; // INSERT … SELECT
    case 'GET /v1/conversations/:id':
      if (cache === 'hit') return { pg: [], redis: ['get'] };
      // GET, 2 SELECTs, SET; or GET and the SELECT that found nothing
      return status === 200 ? { pg: [found, 'SELECT chat_messages'], redis: ['get', 'set'] } : { pg: [found], redis: ['get'] };
    default:
      return { pg: [], redis: [] };
  }
}

function count(map, key, n = 1) {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** Splits `total` reads over `slots` messages as evenly as possible, earlier messages first. */
function spread(total, slots) {
  const out = new Array(slots).fill(Math.floor(total / slots));
  for (let i = 0; i < total % slots; i++) out[i]++;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Reading /metrics

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable /metrics line: ${line}`);
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let lm;
    while (m[2] && (lm = re.exec(m[2])) !== null) labels[lm[1]] = lm[2].replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

async function scrape(port) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}

/**
 * The φ-quantile of a cumulative histogram the way PromQL's histogram_quantile() estimates it: find the
 * bucket holding rank φ·count and interpolate linearly inside it. Past the last finite bound it returns
 * that bound (Prometheus does the same), flagged so the table can print "> 10 s".
 */
function bucketQuantile(q, buckets) {
  const finite = buckets.filter((b) => b.le !== Infinity).sort((a, b) => a.le - b.le);
  const total = buckets.find((b) => b.le === Infinity)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of finite) {
    if (b.count >= rank) {
      const inBucket = b.count - prevCount;
      return { value: inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket, beyond: false };
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return { value: prevLe, beyond: true };
}

/** Per-tenant figures, and the service-wide ones, from the samples only. */
function summarize(samples) {
  const tenants = new Map();
  const row = (t) => {
    let r = tenants.get(t);
    if (r === undefined) {
      r = {
        requests: 0,
        errors: 0,
        byEndpoint: new Map(),
        buckets: new Map(),
        pgSpans: 0,
        redisSpans: 0,
        cache: undefined,
        started: new Map(),
        active: new Map(),
        messages: { inbound: 0, outbound: 0 },
        firstByteBuckets: new Map(),
        consumerSpans: 0,
        websockets: 0,
      };
      tenants.set(t, r);
    }
    return r;
  };
  /** tables: table → {sum, count} (PostgreSQL); queries: `OPERATION table` or redis command → count */
  const service = { tables: new Map(), queries: new Map(), queueBuckets: new Map(), queueSize: undefined };
  const addBucket = (map, l, v) => {
    const le = l.le === '+Inf' ? Infinity : Number(l.le);
    map.set(le, (map.get(le) ?? 0) + v);
  };
  for (const s of samples) {
    const l = s.labels;
    if (l.service !== undefined && l.service !== SERVICE) continue;
    if (l.service_name !== undefined && l.service_name !== SERVICE) continue;
    if (s.name === 'http_requests_total') {
      const r = row(l.tenant_id);
      r.requests += s.value;
      if (/^5\d\d$/.test(l.status)) r.errors += s.value;
      const key = `${l.method} ${l.endpoint}`;
      r.byEndpoint.set(key, (r.byEndpoint.get(key) ?? 0) + s.value);
    } else if (s.name === 'http_request_duration_seconds_bucket') {
      addBucket(row(l.tenant_id).buckets, l, s.value);
    } else if (s.name === 'http_response_first_byte_seconds_bucket') {
      addBucket(row(l.tenant_id).firstByteBuckets, l, s.value);
    } else if (s.name === 'traces_span_metrics_calls_total' && l.span_kind === 'SPAN_KIND_CLIENT' && tenants.has(l.tenant_id)) {
      // Child spans carry the request's tenant: database and cache calls per tenant (the worker's: the job's tenant).
      const r = row(l.tenant_id);
      if (REDIS_COMMANDS.test(l.span_name)) r.redisSpans += s.value;
      else if (l.span_name.startsWith('pg.query:')) r.pgSpans += s.value; // not pg.connect / pg-pool.connect
    } else if (s.name === 'traces_span_metrics_calls_total' && l.span_kind === 'SPAN_KIND_CONSUMER' && l.span_name === `${SUMMARY_QUEUE} process`) {
      row(l.tenant_id).consumerSpans += s.value;
    } else if (s.name === 'cache_requests_total' && l.level === 'redis') {
      const r = row(l.tenant_id);
      r.cache ??= { hit: 0, miss: 0 };
      if (l.result === 'hit' || l.result === 'miss') r.cache[l.result] += s.value;
    } else if (s.name === 'conversations_started_total') {
      const r = row(l.tenant_id);
      r.started.set(l.channel, (r.started.get(l.channel) ?? 0) + s.value);
    } else if (s.name === 'conversations_active_total') {
      const r = row(l.tenant_id);
      r.active.set(l.channel, (r.active.get(l.channel) ?? 0) + s.value);
    } else if (s.name === 'messages_processed_total') {
      const r = row(l.tenant_id);
      if (l.direction in r.messages) r.messages[l.direction] += s.value;
    } else if (s.name === 'websocket_connections_active') {
      row(l.tenant_id).websockets += s.value;
    } else if (s.name === 'database_query_duration_seconds_count' && l.database_type === 'redis') {
      count(service.queries, l.operation, s.value);
    } else if (s.name.startsWith('database_query_duration_seconds_') && l.database_type === 'postgresql') {
      // Statements that name no table (the service's CREATE TABLEs at start) are not the driver's.
      if (!l.table || s.name.endsWith('_bucket')) continue;
      if (s.name.endsWith('_count')) count(service.queries, `${l.operation} ${l.table}`, s.value);
      let t = service.tables.get(l.table);
      if (t === undefined) service.tables.set(l.table, (t = { sum: 0, count: 0 }));
      if (s.name.endsWith('_sum')) t.sum += s.value;
      else t.count += s.value;
    } else if (s.name === 'queue_processing_duration_seconds_bucket' && l.queue_name === SUMMARY_QUEUE) {
      addBucket(service.queueBuckets, l, s.value);
    } else if (s.name === 'queue_size' && l.queue_name === SUMMARY_QUEUE) {
      service.queueSize = (service.queueSize ?? 0) + s.value;
    }
  }
  for (const r of tenants.values()) {
    const buckets = [...r.buckets].map(([le, count]) => ({ le, count }));
    r.p50 = bucketQuantile(0.5, buckets);
    r.p95 = bucketQuantile(0.95, buckets);
    r.firstBytes = r.firstByteBuckets.get(Infinity) ?? 0;
    // The buckets are the request-duration ones (0.1 s first): a count under the first bound says more than an
    // interpolated quantile would.
    r.firstByteFast = r.firstByteBuckets.get(0.1) ?? 0;
    let top;
    for (const [k, v] of r.byEndpoint) if (top === undefined || v > top[1]) top = [k, v];
    r.top = top;
  }
  service.jobs = service.queueBuckets.get(Infinity) ?? 0;
  service.queueP50 = bucketQuantile(0.5, [...service.queueBuckets].map(([le, count]) => ({ le, count })));
  return { tenants, service };
}
const REDIS_COMMANDS = /^(get|set|del|exists|expire|quit|info|ping)$/i;

// ---------------------------------------------------------------------------------------------------------
// Output

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

function seconds(q) {
  if (q === undefined) return '-';
  if (q.beyond) return `> ${q.value} s`;
  return q.value < 1 ? `${Math.round(q.value * 1000)} ms` : `${q.value.toFixed(2)} s`;
}

function percent(part, whole) {
  return whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)} %`;
}

function sum(map) {
  let n = 0;
  for (const v of map.values()) n += v;
  return n;
}

function printTable(head, rows, right) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => pad(c, widths[i], right[i])).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Two tables, so each stays readable: HTTP and dependencies, then messages and model calls. */
function printTables(tenants, figures, order) {
  printTable(
    ['tenant', 'requests', 'errors', 'error %', 'p50 (est.)', 'p95 (est.)', 'cache hit %', 'pg queries/redis cmds', 'top endpoint'],
    order.map((t) => {
      const r = tenants.get(t);
      return [
        t,
        r.requests,
        r.errors,
        percent(r.errors, r.requests),
        seconds(r.p50),
        seconds(r.p95),
        r.cache === undefined ? '-' : percent(r.cache.hit, r.cache.hit + r.cache.miss),
        `${r.pgSpans}/${r.redisSpans}`,
        r.top === undefined ? '-' : `${r.top[0]} (${r.top[1]})`,
      ];
    }),
    [false, true, true, true, true, true, true, true, false]
  );
  console.log('');
  printTable(
    ['tenant', 'messages in/out', ...models.MODEL_HEAD],
    order.map((t) => {
      const r = tenants.get(t);
      return [t, `${r.messages.inbound}/${r.messages.outbound}`, ...models.modelCells(figures.get(t))];
    }),
    [false, true, true, true, true, true]
  );
}

function ms(seconds) {
  return `${(seconds * 1000).toFixed(1)} ms`;
}

/** The lines under the tables: tables by query time, live conversations, the queue, streams, sockets. */
function printLines(tenants, service, order, midSockets) {
  const tables = [...service.tables].filter(([, t]) => t.count > 0).map(([table, t]) => ({ table, mean: t.sum / t.count, count: t.count }));
  tables.sort((a, b) => b.mean - a.mean);
  if (tables.length === 0) console.log('slowest table: - (no database_query_duration_seconds with a table on /metrics)');
  else {
    const [slowest, ...rest] = tables;
    console.log(
      `slowest table: ${slowest.table} (mean ${ms(slowest.mean)} over ${slowest.count} queries); ` +
        `then ${rest.map((t) => `${t.table} ${ms(t.mean)} (${t.count})`).join(', ')}`
    );
  }
  const live = order
    .map((t) => {
      const r = tenants.get(t);
      const byChannel = [...r.active].filter(([, v]) => v > 0).map(([c, v]) => `${c} ${v}`);
      return `${t} ${sum(r.active)}${byChannel.length > 0 ? ` (${byChannel.join(', ')})` : ''}`;
    })
    .join(', ');
  console.log(`live conversations: ${live}`);
  const consumers = order.map((t) => `${t} ${tenants.get(t).consumerSpans}`).join(', ');
  console.log(
    `queue ${SUMMARY_QUEUE}: ${service.jobs} summary jobs processed (p50 ${seconds(service.queueP50)}), queue_size now ${service.queueSize ?? 'n/a'}; ` +
      `consumer spans by the tenant their message carried: ${consumers}`
  );
  const streams = order.map((t) => `${t} ${tenants.get(t).firstBytes} (${tenants.get(t).firstByteFast} with the first byte within 0.1 s)`).join(', ');
  console.log(`streamed replies (SSE): ${streams}`);
  const mid = order.map((t) => `${t} ${midSockets.get(t) ?? 0}`).join(', ');
  console.log(`live WebSockets while the driver was connected: ${mid}; after it closed them: ${order.map((t) => `${t} ${tenants.get(t).websockets}`).join(', ')}`);
}

/** Differences between what /metrics says and what the driver saw (and the stand-in returned), as sentences. */
function compare(summary, figures, driver, midSockets, ledger) {
  const { tenants, service } = summary;
  const problems = [];
  let jobs = 0;
  const queries = new Map();
  for (const [t, sent] of driver.seen) {
    for (const [k, n] of sent.queries) count(queries, k, n);
    const got = tenants.get(t);
    if (got === undefined) {
      problems.push(`${t}: no series on /metrics`);
      continue;
    }
    if (got.requests !== sent.requests) problems.push(`${t}: /metrics counts ${got.requests} requests, the driver sent ${sent.requests}`);
    if (got.errors !== sent.errors) problems.push(`${t}: /metrics counts ${got.errors} 5xx, the driver saw ${sent.errors}`);
    for (const [k, n] of sent.byEndpoint) {
      const m = got.byEndpoint.get(k) ?? 0;
      if (m !== n) problems.push(`${t}: ${k}: /metrics ${m}, driver ${n}`);
    }
    const inf = got.buckets.get(Infinity) ?? 0;
    if (got.pgSpans !== sent.pg) problems.push(`${t}: /metrics counts ${got.pgSpans} pg query spans, the driver caused ${sent.pg}`);
    if (got.redisSpans !== sent.redis) problems.push(`${t}: /metrics counts ${got.redisSpans} redis spans, the driver caused ${sent.redis}`);
    if (inf !== sent.requests) problems.push(`${t}: duration histogram counts ${inf}, the driver sent ${sent.requests}`);
    const c = got.cache ?? { hit: 0, miss: 0 };
    if (c.hit !== sent.cacheHits || c.miss !== sent.cacheMisses) {
      problems.push(`${t}: cache_requests_total counts ${c.hit} hits/${c.miss} misses, the driver saw x-cache ${sent.cacheHits}/${sent.cacheMisses}`);
    }
    for (const [channel, n] of sent.started) {
      const started = got.started.get(channel) ?? 0;
      const active = got.active.get(channel) ?? 0;
      const open = n - (sent.closed.get(channel) ?? 0);
      if (started !== n) problems.push(`${t}: conversations_started_total{channel="${channel}"} is ${started}, the driver started ${n}`);
      if (active !== open) problems.push(`${t}: conversations_active_total{channel="${channel}"} is ${active}, the driver left ${open} open`);
    }
    if (got.messages.inbound !== sent.messages || got.messages.outbound !== sent.messages) {
      problems.push(`${t}: messages_processed_total is ${got.messages.inbound} in/${got.messages.outbound} out, the driver sent ${sent.messages} and got as many replies`);
    }
    if (got.firstBytes !== sent.streamed) problems.push(`${t}: http_response_first_byte_seconds counts ${got.firstBytes}, the driver read ${sent.streamed} streams`);
    if (sent.pieces < 2 * sent.streamed) problems.push(`${t}: ${sent.streamed} streamed replies came in only ${sent.pieces} pieces`);
    if (got.consumerSpans !== sent.jobs) problems.push(`${t}: ${got.consumerSpans} consumer spans count for ${t}, the driver queued ${sent.jobs} jobs`);
    if (sent.notices + sent.noticesFailed !== sent.jobs) problems.push(`${t}: the driver got ${sent.notices + sent.noticesFailed} summary notifications for ${sent.jobs} jobs`);
    if ((midSockets.get(t) ?? 0) !== 1) problems.push(`${t}: websocket_connections_active was ${midSockets.get(t) ?? 0} with the driver's one socket open`);
    if (got.websockets !== 0) problems.push(`${t}: websocket_connections_active is ${got.websockets} after the driver closed its socket`);
    // Model calls per provider: a reply per message, a summary per summarize answered and per job notified.
    const f = figures.get(t);
    const calls = (provider) => f?.byProvider.get(provider) ?? { ok: 0, errors: 0 };
    const want = { openai: { ok: sent.messages, errors: 0 }, anthropic: { ok: sent.summaries + sent.notices, errors: sent.summaryErrors + sent.noticesFailed } };
    for (const [provider, w] of Object.entries(want)) {
      const g = calls(provider);
      if (g.ok !== w.ok || g.errors !== w.errors) problems.push(`${t}: model_api_calls_total{provider="${provider}"} is ${g.ok} ok/${g.errors} failed, the driver got ${w.ok}/${w.errors}`);
    }
    jobs += sent.jobs;
  }
  for (const k of new Set([...queries.keys(), ...service.queries.keys()])) {
    if (!k.includes(' ') && !queries.has(k)) continue; // redis commands of the client itself (info on connect)
    const m = service.queries.get(k) ?? 0;
    const n = queries.get(k) ?? 0;
    if (m !== n) problems.push(`database_query_duration_seconds counts ${m} ${k.includes(' ') ? k : `redis ${k}`}, the driver caused ${n}`);
  }
  if (service.jobs !== jobs) problems.push(`queue_processing_duration_seconds counts ${service.jobs} jobs, the driver queued ${jobs}`);
  if (service.queueSize !== 0) problems.push(`queue_size of ${SUMMARY_QUEUE} is ${service.queueSize} with every job done`);
  for (const t of tenants.keys()) if (!driver.seen.has(t)) problems.push(`unexpected tenant_id="${t}" on /metrics`);
  if (ledger !== undefined) problems.push(...models.compareModels(figures, ledger));
  return problems;
}

function clientQuantile(values, q) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)];
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  console.log('demo: starting PostgreSQL, Redis and RabbitMQ (the machine\'s own if they answer, else throwaway ones) and the model stand-in ...');
  const services = await startServices();
  let chat;
  let standin;
  let exitCode = 1;
  const realModels = Boolean(process.env.OPENAI_API_KEY) && Boolean(process.env.ANTHROPIC_API_KEY);
  try {
    if (services.amqpUrl === undefined) throw new Error('no RabbitMQ answers on 127.0.0.1:5672 and rabbitmq-server is not installed (apt-get install rabbitmq-server)');
    // The model stand-in runs here, outside the instrumented service (the real APIs instead when both keys are set).
    standin = await startModelStandin();
    const keys = {};
    for (const k of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'REPLY_MODEL', 'SUMMARY_MODEL']) if (process.env[k]) keys[k] = process.env[k];
    const metricsPort = await freePort();
    chat = startChatService({
      PORT: '0',
      PG_URL: services.pgUrl,
      REDIS_URL: services.redisUrl,
      AMQP_URL: services.amqpUrl,
      SUMMARY_QUEUE,
      OTEL_SERVICE_NAME: SERVICE,
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      MODEL_STANDIN_URL: standin.url,
      ...keys,
    });
    const port = await chat.ready;
    console.log(`demo: chat service on http://127.0.0.1:${port} under --require ./register.js; metrics on http://127.0.0.1:${metricsPort}/metrics`);
    console.log(`demo: models: ${realModels ? 'the real OpenAI and Anthropic APIs' : `the stand-in on ${standin.url} (OpenAI and Anthropic wire format, deterministic usage)`}`);
    console.log(`demo: driving traffic for tenants ${Object.keys(PLAN).join(', ')} ...`);
    const driver = new Driver(port);
    const driveStart = Date.now();
    await driver.openSockets();
    // With every tenant's socket open: the gauge counts them (the upgrade is counted when the 101 is written).
    let midSockets = new Map();
    for (let i = 0; i < 20; i++) {
      midSockets = summarize(parseMetrics(await scrape(metricsPort))).tenants;
      midSockets = new Map([...midSockets].map(([t, r]) => [t, r.websockets]));
      if (Object.keys(PLAN).every((t) => midSockets.get(t) === 1)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await driver.run();
    await driver.closeSockets();
    const driveSecs = (Date.now() - driveStart) / 1000;
    let sent = 0;
    for (const s of driver.seen.values()) sent += s.requests;
    console.log(`demo: sent ${sent} requests in ${driveSecs.toFixed(1)} s; scraping /metrics ...\n`);

    // A span ends when the response finishes and a socket is counted out when it closes; give the last ones a
    // moment, then read until two scrapes agree.
    const ledger = realModels ? undefined : standin.ledger();
    let summary;
    let figures;
    let previous = '';
    for (let i = 0; i < 20; i++) {
      const text = await scrape(metricsPort);
      const counts = text.split('\n').filter((l) => /^(http_requests_total|websocket_connections_active|model_api_calls_total)/.test(l)).join('\n');
      const samples = parseMetrics(text);
      summary = summarize(samples);
      figures = models.modelFigures(samples);
      if (counts === previous && compare(summary, figures, driver, midSockets, ledger).length === 0) break;
      previous = counts;
      await new Promise((r) => setTimeout(r, 100));
    }

    const order = [...driver.seen.keys()];
    printTables(summary.tenants, figures, order);
    console.log('');
    printLines(summary.tenants, summary.service, order, midSockets);
    console.log('\nFrom the service\'s /metrics: http_requests_total (requests; errors = status 5xx), http_request_duration_seconds');
    console.log('(p50/p95 are bucket estimates, interpolated inside the buckets 0.1/0.25/0.5/1/2.5/5/10 s as histogram_quantile() does),');
    console.log('cache_requests_total{level="redis"} (hits / lookups), traces_span_metrics_calls_total (pg query and redis command spans,');
    console.log('which carry the request\'s tenant; the summary worker\'s carry the tenant its message brought), messages_processed_total,');
    console.log('model_api_calls_total (openai: a streamed reply per message; anthropic: a summary per summarize and per job; the');
    console.log(`${realModels ? 'real APIs' : 'stand-in sheds about one conversation in three'}), model_api_tokens_total (in incl. cached reads / out), model_api_cost_cents_total,`);
    console.log('database_query_duration_seconds (mean per table), conversations_active_total, queue_processing_duration_seconds, queue_size,');
    console.log('http_response_first_byte_seconds, websocket_connections_active. 404s count as requests, not errors.');
    const by = (f) => [...driver.seen].map(([t, s]) => `${t} ${f(s)}`).join(', ');
    console.log(`For comparison, the driver measured p95: ${by((s) => seconds({ value: clientQuantile(s.latencies, 0.95) }))}; first byte p50: ${by((s) => seconds({ value: clientQuantile(s.firstBytes, 0.5) }))};`);
    console.log(`x-cache hits/misses: ${by((s) => `${s.cacheHits}/${s.cacheMisses}`)}; SSE pieces: ${by((s) => s.pieces)};`);
    console.log(`summaries 200/503: ${by((s) => `${s.summaries}/${s.summaryErrors}`)}; job notifications stored/failed: ${by((s) => `${s.notices}/${s.noticesFailed}`)}.`);

    const problems = compare(summary, figures, driver, midSockets, ledger);
    if (problems.length === 0) {
      console.log(
        '\ncheck: requests, 5xx errors, per-endpoint counts, pg/redis spans, cache hits and misses, queries per table, conversations started and live, ' +
          'messages, streams, summary jobs (per tenant, through the queue), WebSockets and model calls per provider on /metrics equal what the ' +
          'driver sent and saw, for every tenant.'
      );
      if (!realModels) console.log('check: model tokens and cost per tenant on /metrics equal the usage the model stand-in returned, at @pydantic/genai-prices list prices, to the pico-dollar.');
      exitCode = 0;
    } else {
      console.log(`\ncheck FAILED:\n  ${problems.join('\n  ')}`);
    }
  } finally {
    if (chat !== undefined) {
      chat.proc.kill('SIGTERM');
      const { code, signal } = await chat.exited;
      if (code !== 0) {
        console.log(`demo: chat service exited with code ${code} signal ${signal}:\n${chat.output()}`);
        exitCode = 1;
      }
    }
    await services.stop();
    await standin?.close();
  }
  console.log(`demo: stopped everything (${((Date.now() - t0) / 1000).toFixed(1)} s in all).`);
  process.exitCode = exitCode;
}

main().catch((err) => {
  console.error(`demo failed: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
});
