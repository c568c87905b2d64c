'use strict';
// A small multi-tenant chat API that knows nothing about tenantscope: express for HTTP, PostgreSQL for
// conversations, Redis as a read-through cache. The tenant is whatever the client sends in `X-Tenant-ID`;
// the app uses it only to scope its own data. Run it under the preload and it yields per-tenant traces and
// metrics:
//
//   OTEL_SERVICE_NAME=chat-service OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=prometheus \
//   PG_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     node --require ./register.js examples/chat-service/server.js
//   curl -H 'X-Tenant-ID: acme' -X POST localhost:8080/v1/conversations
//   curl localhost:9464/metrics
//
// Routes:
//   POST /v1/conversations                        create a conversation                   201
//   POST /v1/conversations/:id/messages           store a message and the model's reply   201 | 404
//   GET  /v1/conversations/:id                    read through the Redis cache            200 | 404
//   POST /v1/conversations/:id/summarize          summarise it with Anthropic             200 | 503
//   GET  /healthz                                 liveness                                200
// Models (models.js): an OpenAI reply per message, an Anthropic summary per summarize; the real APIs with
// OPENAI_API_KEY / ANTHROPIC_API_KEY, else the stand-in at MODEL_STANDIN_URL (model-standin.js).
// Env: PORT (default 8080; 0 picks a free port), PG_URL, REDIS_URL. Prints `LISTENING <port>` when ready.
const express = require('express');
const { Pool } = require('pg');
const Redis = require('ioredis');

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PORT = Number(process.env.PORT ?? 8080);
const CACHE_TTL_SECONDS = 60;

const pool = new Pool({ connectionString: PG_URL, max: 8 });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });

class ModelUnavailableError extends Error {
  constructor(model) {
    super(`model ${model} is not answering`);
    this.name = 'ModelUnavailableError';
    this.status = 503;
  }
}

const models = require('./models');

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
  res.status(201).json({ id: rows[0].id });
});

app.post('/v1/conversations/:id/messages', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const id = Number(req.params.id);
  const text = typeof req.body?.text === 'string' ? req.body.text.slice(0, 4000) : '';
  const found = await pool.query('SELECT 1 FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (found.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  const reply = await models.reply(tenant, text);
  await pool.query('INSERT INTO chat_messages (conversation_id, role, body) VALUES ($1, $2, $3), ($1, $4, $5)', [id, 'user', text, 'assistant', reply]);
  await redis.del(cacheKey(tenant, id));
  res.status(201).json({ reply });
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
  const conv = await pool.query('SELECT id, title FROM chat_conversations WHERE id = $1 AND tenant_id = $2', [id, tenant]);
  if (conv.rowCount === 0) return void res.status(404).json({ error: 'no such conversation' });
  const msgs = await pool.query('SELECT role, body FROM chat_messages WHERE conversation_id = $1 ORDER BY id', [id]);
  const body = JSON.stringify({ ...conv.rows[0], messages: msgs.rows });
  await redis.set(cacheKey(tenant, id), body, 'EX', CACHE_TTL_SECONDS);
  res.set('x-cache', 'miss').type('application/json').send(body);
});

app.post('/v1/conversations/:id/summarize', async (req, res) => {
  const tenant = tenantOf(req, res);
  if (tenant === undefined) return;
  const msgs = await pool.query('SELECT m.role, m.body FROM chat_messages m JOIN chat_conversations c ON c.id = m.conversation_id WHERE c.id = $1 AND c.tenant_id = $2 ORDER BY m.id', [Number(req.params.id), tenant]);
  let summary;
  try {
    summary = await models.summarize(tenant, msgs.rows);
  } catch {
    // The summariser is sometimes overloaded (the stand-in answers 529 to about one request in three).
    throw new ModelUnavailableError(models.SUMMARY_MODEL);
  }
  res.json({ summary });
});

// express 5 passes rejected promises here.
app.use((err, _req, res, _next) => {
  const status = Number.isInteger(err.status) ? err.status : 500;
  res.status(status).json({ error: err.name, message: err.message });
});

function cacheKey(tenant, id) {
  return `chat:${tenant}:conversation:${id}`;
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
}

async function main() {
  await migrate();
  const server = app.listen(PORT, () => {
    console.log(`LISTENING ${server.address().port}`);
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    // Let the event loop drain so `beforeExit` runs (tenantscope flushes there); force the exit if a handle lingers.
    Promise.allSettled([pool.end(), redis.quit()]).then(() => {
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
