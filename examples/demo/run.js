'use strict';
// `npm run demo`: starts PostgreSQL and Redis the way the tests do, and the model stand-in (OpenAI/Anthropic
// wire format, deterministic usage; examples/chat-service/model-standin.js), runs the example chat service under
// `node --require ./register.js`, drives a short, bounded traffic run over three tenants (including 5xx
// answers from an overloaded summariser and a few 404s), then scrapes the service's /metrics and prints a
// per-tenant table computed only from what /metrics serves, model tokens and cost included. It checks that
// table against what the driver sent and what the stand-in returned, and exits 1 if they differ.
const { spawn } = require('node:child_process');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..', '..');
const { startServices, freePort } = require(join(ROOT, 'build', 'test', 'helpers', 'services.js'));
const { startModelStandin } = require(join(ROOT, 'examples', 'chat-service', 'model-standin.js'));
const models = require('./models.js');

const SERVICE = 'chat-service';
/** Hard bound on the traffic run; the plan below normally takes well under it. */
const DRIVE_DEADLINE_MS = 30_000;
const CONCURRENCY = 6;

/**
 * Per tenant: conversations, messages and reads per conversation, message length range (words; the service's
 * simulated model answers in 40 ms + 4 ms per word), conversations asked for a summary (the summariser is down:
 * 503), reads of a conversation that is not theirs (404 on a route), and requests to a path with no route (404).
 */
const PLAN = {
  acme: { conversations: 12, messages: 4, reads: 6, words: [20, 140], summarize: 4, notTheirs: 3, noRoute: 2 },
  globex: { conversations: 8, messages: 3, reads: 5, words: [5, 30], summarize: 1, notTheirs: 2, noRoute: 1 },
  initech: { conversations: 5, messages: 2, reads: 4, words: [10, 80], summarize: 5, notTheirs: 1, noRoute: 1 },
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

/** Deterministic pseudo-random numbers, so every run sends the same traffic. */
function rng(seed) {
  let s = seed >>> 0;
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
    /** tenant → { requests, errors, byEndpoint: Map, latencies: number[], cacheHits, cacheMisses } */
    this.seen = new Map();
  }

  stats(tenant) {
    let s = this.seen.get(tenant);
    if (s === undefined) {
      s = { requests: 0, errors: 0, notFound: 0, byEndpoint: new Map(), latencies: [], cacheHits: 0, cacheMisses: 0, pg: 0, redis: 0 };
      this.seen.set(tenant, s);
    }
    return s;
  }

  /** One request; `endpoint` is the label we expect tenantscope to give it (route template or `unmatched`). */
  async call(tenant, method, path, endpoint, body) {
    if (Date.now() > this.deadline) throw new Error(`traffic run passed its ${DRIVE_DEADLINE_MS} ms bound`);
    const headers = { 'x-tenant-id': tenant };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t0 = performance.now();
    const r = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    const [pg, redis] = dbCalls(key, r.status, cache);
    s.pg += pg;
    s.redis += redis;
    return { status: r.status, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  }

  /** A conversation: create it, alternate messages and reads (first read after a message misses the cache). */
  async session(tenant, plan, index, random, foreignId) {
    const created = await this.call(tenant, 'POST', '/v1/conversations', '/v1/conversations', { title: `${tenant} chat ${index}` });
    if (created.status !== 201) throw new Error(`creating a conversation for ${tenant} answered ${created.status}`);
    const id = created.json.id;
    const readsAfter = spread(plan.reads, plan.messages);
    for (let m = 0; m < plan.messages; m++) {
      const [lo, hi] = plan.words;
      const words = lo + Math.floor(random() * (hi - lo + 1));
      const text = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
      await this.call(tenant, 'POST', `/v1/conversations/${id}/messages`, '/v1/conversations/:id/messages', { text });
      for (let r = 0; r < readsAfter[m]; r++) await this.call(tenant, 'GET', `/v1/conversations/${id}`, '/v1/conversations/:id');
    }
    if (index < plan.summarize) await this.call(tenant, 'POST', `/v1/conversations/${id}/summarize`, '/v1/conversations/:id/summarize');
    if (index < plan.notTheirs && foreignId !== undefined) {
      // Another tenant's conversation: the app scopes by tenant and answers 404 (a 4xx, not an error).
      await this.call(tenant, 'GET', `/v1/conversations/${foreignId}`, '/v1/conversations/:id');
    }
    if (index < plan.noRoute) await this.call(tenant, 'GET', `/v1/conversation/${id}`, 'unmatched');
    return id;
  }

  async run() {
    // One seed conversation per tenant first, so each tenant has someone else's id to try.
    const firstIds = {};
    const tenants = Object.keys(PLAN);
    for (const t of tenants) firstIds[t] = await this.session(t, PLAN[t], 0, rng(t.length * 7919), undefined);
    // Each seed session could not try a foreign id yet: make up for it with one read each.
    for (let i = 0; i < tenants.length; i++) {
      const t = tenants[i];
      if (PLAN[t].notTheirs > 0) await this.call(t, 'GET', `/v1/conversations/${firstIds[tenants[(i + 1) % tenants.length]]}`, '/v1/conversations/:id');
    }
    // Round-robin over tenants, so they share the service at the same time, as in production.
    const perTenant = tenants.map((t, i) => {
      const random = rng(t.length * 104729);
      const foreign = firstIds[tenants[(i + 1) % tenants.length]];
      const list = [];
      for (let c = 1; c < PLAN[t].conversations; c++) list.push(() => this.session(t, PLAN[t], c, random, foreign));
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

/** The pg queries and redis commands the chat service makes for one answered request (see its routes). */
function dbCalls(key, status, cache) {
  switch (key) {
    case 'POST /v1/conversations':
      return [1, 0]; // INSERT
    case 'POST /v1/conversations/:id/messages':
      return status === 201 ? [2, 1] : [1, 0]; // SELECT + INSERT, DEL; or the SELECT that found nothing
    case 'GET /v1/conversations/:id':
      if (cache === 'hit') return [0, 1]; // GET
      return status === 200 ? [2, 2] : [1, 1]; // GET, 2 SELECTs, SET; or GET and the SELECT that found nothing
    case 'POST /v1/conversations/:id/summarize':
      return [1, 0]; // the SELECT of its messages
    default:
      return [0, 0];
  }
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

/** Per-tenant figures, from the samples only. */
function summarize(samples) {
  const tenants = new Map();
  const row = (t) => {
    let r = tenants.get(t);
    if (r === undefined) {
      r = { requests: 0, errors: 0, byEndpoint: new Map(), buckets: new Map(), pgSpans: 0, redisSpans: 0 };
      tenants.set(t, r);
    }
    return r;
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
      const r = row(l.tenant_id);
      const le = l.le === '+Inf' ? Infinity : Number(l.le);
      r.buckets.set(le, (r.buckets.get(le) ?? 0) + s.value);
    } else if (s.name === 'traces_span_metrics_calls_total' && l.span_kind === 'SPAN_KIND_CLIENT' && tenants.has(l.tenant_id)) {
      // Child spans carry the request's tenant: database and cache calls per tenant.
      const r = row(l.tenant_id);
      if (REDIS_COMMANDS.test(l.span_name)) r.redisSpans += s.value;
      else if (l.span_name.startsWith('pg.query:')) r.pgSpans += s.value; // not pg.connect / pg-pool.connect
    }
  }
  for (const r of tenants.values()) {
    const buckets = [...r.buckets].map(([le, count]) => ({ le, count }));
    r.p50 = bucketQuantile(0.5, buckets);
    r.p95 = bucketQuantile(0.95, buckets);
    let top;
    for (const [k, v] of r.byEndpoint) if (top === undefined || v > top[1]) top = [k, v];
    r.top = top;
  }
  return tenants;
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

function printTable(tenants, order, figures) {
  const head = ['tenant', 'requests', 'errors', 'error %', 'p50 (est.)', 'p95 (est.)', 'pg queries/redis cmds', 'top endpoint', ...models.MODEL_HEAD];
  const rows = order.map((t) => {
    const r = tenants.get(t);
    return [
      t,
      r.requests,
      r.errors,
      r.requests === 0 ? '-' : `${((100 * r.errors) / r.requests).toFixed(1)} %`,
      seconds(r.p50),
      seconds(r.p95),
      `${r.pgSpans}/${r.redisSpans}`,
      r.top === undefined ? '-' : `${r.top[0]} (${r.top[1]})`,
      ...models.modelCells(figures.get(t)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const right = [false, true, true, true, true, true, true, false, true, true, true];
  const line = (cells) => cells.map((c, i) => pad(c, widths[i], right[i])).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Differences between what /metrics says and what the driver saw, as sentences. */
function compare(tenants, driver) {
  const problems = [];
  for (const [t, sent] of driver.seen) {
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
  }
  for (const t of tenants.keys()) if (!driver.seen.has(t)) problems.push(`unexpected tenant_id="${t}" on /metrics`);
  return problems;
}

function clientQuantile(values, q) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)];
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  console.log('demo: starting PostgreSQL and Redis (the machine\'s own if they answer, else throwaway ones) ...');
  const services = await startServices();
  let chat;
  let standin;
  let exitCode = 1;
  const realModels = process.env.OPENAI_API_KEY !== undefined && process.env.ANTHROPIC_API_KEY !== undefined;
  try {
    // The model stand-in runs here, outside the instrumented service (the real APIs instead when both keys are set).
    standin = await startModelStandin();
    const keys = {};
    for (const k of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY']) if (process.env[k] !== undefined) keys[k] = process.env[k];
    const metricsPort = await freePort();
    chat = startChatService({
      PORT: '0',
      PG_URL: services.pgUrl,
      REDIS_URL: services.redisUrl,
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
    console.log(`demo: driving traffic for tenants ${Object.keys(PLAN).join(', ')} ...`);
    const driver = new Driver(port);
    const driveStart = Date.now();
    await driver.run();
    const driveSecs = (Date.now() - driveStart) / 1000;
    let sent = 0;
    for (const s of driver.seen.values()) sent += s.requests;
    console.log(`demo: sent ${sent} requests in ${driveSecs.toFixed(1)} s; scraping /metrics ...\n`);

    // A span ends when the response finishes; give the last ones a moment, then read until two scrapes agree.
    let tenants;
    let figures;
    let previous = '';
    for (let i = 0; i < 20; i++) {
      const text = await scrape(metricsPort);
      const counts = text.split('\n').filter((l) => l.startsWith('http_requests_total')).join('\n');
      tenants = summarize(parseMetrics(text));
      figures = models.modelFigures(parseMetrics(text));
      if (counts === previous && compare(tenants, driver).length === 0) break;
      previous = counts;
      await new Promise((r) => setTimeout(r, 100));
    }

    printTable(tenants, [...driver.seen.keys()], figures);
    console.log('\nFrom the service\'s /metrics: http_requests_total (requests; errors = status 5xx), http_request_duration_seconds');
    console.log('(p50/p95 are bucket estimates, interpolated inside the buckets 0.1/0.25/0.5/1/2.5/5/10 s as histogram_quantile() does),');
    console.log('traces_span_metrics_calls_total (pg query and redis command spans, which carry the request\'s tenant). 404s count as requests, not errors.');
    console.log('Model columns: model_api_calls_total, model_api_tokens_total (input incl. cached reads / output) and model_api_cost_cents_total,');
    console.log(`one streamed ${realModels ? 'OpenAI' : 'stand-in OpenAI'} reply per message and one Anthropic summary per summarize (the stand-in is overloaded for about one in three).`);
    const client = [...driver.seen].map(([t, s]) => `${t} ${seconds({ value: clientQuantile(s.latencies, 0.95) })}`).join(', ');
    console.log(`For comparison, the driver measured p95: ${client}; cache hits/misses: ${[...driver.seen].map(([t, s]) => `${t} ${s.cacheHits}/${s.cacheMisses}`).join(', ')}.`);

    const problems = compare(tenants, driver);
    if (!realModels) problems.push(...models.compareModels(figures, standin.ledger()));
    if (problems.length === 0) {
      console.log('\ncheck: requests, 5xx errors, per-endpoint counts and pg/redis spans on /metrics equal what the driver sent, for every tenant.');
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
