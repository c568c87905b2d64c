'use strict';
// A small multi-tenant chat API: express for HTTP, PostgreSQL for conversations, Redis as a read-through cache,
// model calls with the official SDKs (models.js: a streamed OpenAI chat completion per reply, an Anthropic message
// per summary), RabbitMQ for summarisation jobs done by a worker in the same process, server-sent events for
// streamed replies and a WebSocket for live notifications. The tenant is whatever the client sends in
// `X-Tenant-ID`; the app uses it only to scope its own data and passes it to the model providers as their
// end-user field. Its traces and metrics (model tokens and cost included) come from the preload, with no code of
// its own; it calls tenantscope only for what no span can know: when a conversation starts and ends, the messages
// it processes, and which queue to watch. (Without the preload those calls do nothing.)
//
//   OTEL_SERVICE_NAME=chat-service OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=prometheus \
//   PG_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node --require ./register.js examples/chat-service/server.js
//   curl -H 'X-Tenant-ID: acme' -X POST localhost:8080/v1/conversations
//   curl localhost:9464/metrics
//
// Routes:
//   POST /v1/conversations                        create a conversation ({channel})       201
//   POST /v1/conversations/:id/messages           store a message and the model's reply   201 | 404 | 503
//        …/messages?stream=1                      the reply streamed to the client as     200 | 404 | 503
//                                                 server-sent events as the model streams it
//   GET  /v1/conversations/:id                    read through the Redis cache            200 | 404
//   POST /v1/conversations/:id/summarize          summarise it now (Anthropic); 503 when  200 | 404 | 503
//                                                 the summariser is overloaded
//   POST /v1/conversations/:id/summary-jobs       queue a summary (RabbitMQ; the worker   202 | 404
//                                                 summarises and notifies the tenant's live sockets)
//   POST /v1/conversations/:id/close              end it ({resolution})                   200 | 404
//   GET  /healthz                                 liveness                                200
//   WS   /v1/live                                 the tenant's notifications: {type: "summary", id, summary}
//                                                 or {type: "summary_failed", id, error}
// Models (models.js): the real APIs with OPENAI_API_KEY / ANTHROPIC_API_KEY (REPLY_MODEL, SUMMARY_MODEL), else
// the stand-in at MODEL_STANDIN_URL (model-standin.js), else one started in a worker thread.
// Env: PORT (default 8080; 0 picks a free port), PG_URL, REDIS_URL, AMQP_URL, SUMMARY_QUEUE (default
// chat.summaries). Prints `LISTENING <port>` when ready.
// Logs with pino (JSON on stdout): under the preload each line written in a request carries trace_id, span_id
// and tenant_id, and with OTEL_LOGS_EXPORTER=otlp the lines are shipped to the Collector too.
const express = require('express');
const pino = require('pino');
const { Pool } = require('pg');
const Redis = require('ioredis');
const amqp = require('amqplib');
const { WebSocketServer } = require('ws');
const { conversationStarted, conversationCompleted, messageProcessed, observeQueueDepth, rabbitQueueDepth } = require('tenantscope');
const models = require('./models');

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const SUMMARY_QUEUE = process.env.SUMMARY_QUEUE ?? 'chat.summaries';
const PORT = Number(process.env.PORT ?? 8080);
const CACHE_TTL_SECONDS = 60;

const log = pino();
const pool = new Pool({ connectionString: PG_URL, max: 8 });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
/** RabbitMQ connection and channel, opened in main(). */
let amqpConnection;
let amqpChannel;
/** tenant → its open live sockets */
const liveSockets = new Map();

class ModelUnavailableError extends Error {
  constructor(model, cause) {
    super(`model ${model} is not answering${cause?.status ? ` (${cause.status})` : ''}`, { cause });
    this.name = 'ModelUnavailableError';
    this.status = 503;
  }
}

/** A conversation's messages, oldest first, for a summary. */
async function messagesOf(id) {
  const { rows } = await pool.query('SELECT role, body FROM chat_messages WHERE conversation_id = $1 ORDER BY id', [id]);
  return rows;
}

/** The conversation's channel, for the conversation metrics; a client that says nothing is on the web. */
function channelOf(req) {
  return typeof req.body?.channel === 'string' ? req.body.channel : 'web';
}

const app = express();
app.use(express.json({ limit: '64kb' }));

/** Every API route needs a tenant; the app trusts the gateway in front of it to have set the header. */
function tenantOf(req, res) {
  const tenant = req.get('x-tenant-id');
  if (!tenant) {
    res.status(400).json({ error: 'missing X-Tenant-ID' });
    return undefined;
  }
  return tenant;
}

app.get('/healthz', (_req, res) => {
  res.json({ ok: true });
});

app.post('/v1/conversations', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const title = typeof req.body?.title === 'string' ? req.body.title.slice(0, 200) : 'untitled';
  const { rows } = await pool.query('INSERT INTO chat_conversations (tenant_id, title) VALUES ($1, $2) RETURNING id', [tenant, title]);
  conversationStarted({ channel: channelOf(req) });
  res.status(201).json({ id: rows[0].id });
});

app.post('/v1/conversations/:id/messages', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const text = typeof req.body?.text === 'string' ? req.body.text.slice(0, 4000) : '';
  const found = await pool.query('SELECT 1 FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (found.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  const channel = channelOf(req);
  messageProcessed({ channel, direction: 'inbound', messageType: 'text' });
  const stream = req.query.stream === '1';
  // A client that goes away mid-reply stops the model call too.
  const gone = new AbortController();
  res.once('close', () => res.writableFinished || gone.abort());
  let reply;
  try {
    if (stream) res.status(200).set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // Streamed: each piece goes to the client as the model sends it (the headers with the first one).
    reply = await models.reply(tenant, text, stream ? (piece) => res.write(`data: ${JSON.stringify(piece)}\n\n`) : undefined, gone.signal);
  } catch (err) {
    if (gone.signal.aborted) return void log.info({ conversation: id }, 'client left before the reply ended');
    throw new ModelUnavailableError(models.REPLY_MODEL, err);
  }
  log.info({ conversation: id, chars: text.length, replyChars: reply.length }, 'reply generated');
  await pool.query('INSERT INTO chat_messages (conversation_id, role, body) VALUES ($1, $2, $3), ($1, $4, $5)', [id, 'user', text, 'assistant', reply]);
  await redis.del(cacheKey(tenant, id));
  messageProcessed({ channel, direction: 'outbound', messageType: 'text' });
  if (stream) res.end('event: done\ndata: {}\n\n');
  else res.status(201).json({ reply });
});

app.get('/v1/conversations/:id', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const cached = await redis.get(cacheKey(tenant, id));
  if (cached !== null) {
    res.set('x-cache', 'hit').type('application/json').send(cached);
    return;
  }
  res.set('x-cache', 'miss');
  const conv = await pool.query('SELECT id, title FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (conv.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  const msgs = await pool.query('SELECT role, body FROM chat_messages WHERE conversation_id = $1 ORDER BY id', [id]);
  const body = JSON.stringify({ ...conv.rows[0], messages: msgs.rows });
  await redis.set(cacheKey(tenant, id), body, 'EX', CACHE_TTL_SECONDS);
  res.type('application/json').send(body);
});

app.post('/v1/conversations/:id/summarize', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const found = await pool.query('SELECT 1 FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (found.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  const msgs = await messagesOf(id);
  let summary;
  try {
    summary = await models.summarize(tenant, msgs);
  } catch (err) {
    // The summariser is sometimes overloaded (the stand-in answers 529 to about one conversation in three).
    throw new ModelUnavailableError(models.SUMMARY_MODEL, err);
  }
  res.json({ summary });
});

app.post('/v1/conversations/:id/summary-jobs', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const found = await pool.query('SELECT 1 FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (found.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  // The app puts its tenant in the body for its own data access; tenantscope carries the telemetry tenant in the
  // message headers by itself.
  amqpChannel.sendToQueue(SUMMARY_QUEUE, Buffer.from(JSON.stringify({ tenant, id })), { type: 'summarize', contentType: 'application/json' });
  res.status(202).json({ queued: true });
});

app.post('/v1/conversations/:id/close', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const resolution = typeof req.body?.resolution === 'string' ? req.body.resolution : 'resolved';
  const closed = await pool.query(
    `INSERT INTO chat_closures (conversation_id, resolution)
     SELECT id, $3 FROM chat_conversations WHERE id = $1 AND tenant_id = $2 ON CONFLICT DO NOTHING`,
    [id, tenant, resolution]
  );
  if (closed.rowCount === 0) return void res.status(404).json({ error: 'no such open conversation' });
  conversationCompleted({ channel: channelOf(req), resolutionStatus: resolution });
  res.json({ closed: true });
});

// express 5 passes rejected promises here.
app.use((err, _req, res, _next) => {
  const status = Number.isInteger(err.status) ? err.status : 500;
  log.error({ err }, 'request failed');
  // A streamed reply has sent its 200 already: say so in the stream and end it.
  if (res.headersSent) return void res.end(`event: error\ndata: ${JSON.stringify({ error: err.name })}\n\n`);
  res.status(status).json({ error: err.name, message: err.message });
});

function cacheKey(tenant, id) {
  return `chat:${tenant}:conversation:${id}`;
}

/**
 * The summarisation worker: reads the conversation, has the model summarise it, stores the summary and notifies
 * the tenant. When the model fails the job is dropped (no requeue: the stand-in would shed the same request again)
 * and the tenant is told.
 */
async function summarize(msg) {
  const { tenant, id } = JSON.parse(msg.content.toString());
  const msgs = await messagesOf(id);
  let summary;
  try {
    summary = await models.summarize(tenant, msgs);
  } catch (err) {
    log.warn({ conversation: id, err: err.message }, 'summary job failed');
    amqpChannel.nack(msg, false, false);
    notify(tenant, { type: 'summary_failed', id, error: err.status === 529 ? 'overloaded' : 'model_error' });
    return;
  }
  await pool.query(
    'INSERT INTO chat_summaries (conversation_id, body) VALUES ($1, $2) ON CONFLICT (conversation_id) DO UPDATE SET body = $2',
    [id, summary]
  );
  amqpChannel.ack(msg);
  log.info({ conversation: id }, 'summary stored');
  notify(tenant, { type: 'summary', id, summary });
}

function notify(tenant, event) {
  const text = JSON.stringify(event);
  for (const ws of liveSockets.get(tenant) ?? []) ws.send(text);
}

/** `/v1/live`: one socket per client, grouped by tenant for notifications. */
function attachLiveSockets(server) {
  const wss = new WebSocketServer({ server, path: '/v1/live' });
  wss.on('connection', (ws, req) => {
    const tenant = req.headers['x-tenant-id'];
    if (typeof tenant !== 'string' || tenant === '') return void ws.close(4000, 'missing X-Tenant-ID');
    let set = liveSockets.get(tenant);
    if (set === undefined) liveSockets.set(tenant, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.on('error', () => undefined);
  });
  return wss;
}

async function migrate() {
  await pool.query(`CREATE TABLE IF NOT EXISTS chat_conversations (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE IF NOT EXISTS chat_messages (
    id BIGSERIAL PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE IF NOT EXISTS chat_summaries (
    conversation_id BIGINT PRIMARY KEY REFERENCES chat_conversations(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE IF NOT EXISTS chat_closures (
    conversation_id BIGINT PRIMARY KEY REFERENCES chat_conversations(id) ON DELETE CASCADE,
    resolution TEXT NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
}

async function startQueue() {
  amqpConnection = await amqp.connect(AMQP_URL);
  amqpChannel = await amqpConnection.createChannel();
  // Not durable, and gone a minute after its last use: an example's queue should not outlive the example.
  await amqpChannel.assertQueue(SUMMARY_QUEUE, { durable: false, arguments: { 'x-expires': 60_000 } });
  await amqpChannel.prefetch(4);
  await amqpChannel.consume(SUMMARY_QUEUE, (msg) => {
    if (msg === null) return;
    summarize(msg).catch((err) => {
      console.error(`chat-service: summary failed: ${err.message}`);
      amqpChannel.nack(msg, false, false);
    });
  });
  observeQueueDepth(SUMMARY_QUEUE, rabbitQueueDepth(amqpConnection, SUMMARY_QUEUE));
}

async function main() {
  await migrate();
  await startQueue();
  const server = app.listen(PORT, () => {
    console.log(`LISTENING ${server.address().port}`);
  });
  const wss = attachLiveSockets(server);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const ws of wss.clients) ws.terminate();
    server.close();
    server.closeAllConnections();
    // Let the event loop drain so `beforeExit` runs (tenantscope flushes there); force the exit if a handle lingers.
    Promise.allSettled([amqpConnection.close(), pool.end(), redis.quit()]).then(() => {
      setTimeout(() => process.exit(0), 3000).unref();
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(`chat-service: could not start: ${err.message}`);
  process.exit(1);
});
