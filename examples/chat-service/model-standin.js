'use strict';
// A small, deterministic stand-in for the OpenAI and Anthropic APIs, so the example chat service can call a
// model with the official SDKs without keys or network. It answers in each API's wire format:
//   POST /v1/chat/completions   OpenAI chat completions, streamed (SSE, usage in a final chunk when asked) or not
//   POST /v1/messages           Anthropic messages (not streamed); "overloaded" (529) for about one request in three
//   GET  /ledger                the usage it returned, per tenant (the `user` / `metadata.user_id` the app sent)
// Usage is a pure function of the request: input ≈ 1 token per 4 characters of the messages plus 4 per message;
// for prompts of 1,024 tokens or more the first 1,024 are reported as cached (OpenAI) / cache reads (Anthropic);
// output is 12 tokens plus one per 2 words of the last message. Replies take 40 ms + 4 ms per word, like the
// simulated model it replaces.
//
// Run alone: `node examples/chat-service/model-standin.js [port]` (default 8081) prints `MODEL_STANDIN <url>`;
// the chat service starts one itself, in a worker thread, when neither API keys nor MODEL_STANDIN_URL are set.
const http = require('node:http');
const { createHash } = require('node:crypto');

const CACHED_PREFIX = 1024;

function tokensOf(text) {
  return Math.ceil(text.length / 4);
}

function contentText(c) {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return '';
}

/** Input tokens (total), cached part, output tokens, and the reply text for a list of messages. */
function answer(messages, system) {
  let input = system ? tokensOf(system) + 4 : 0;
  for (const m of messages) input += tokensOf(contentText(m.content)) + 4;
  const last = contentText(messages[messages.length - 1]?.content ?? '');
  const words = last.split(/\s+/).filter(Boolean).length;
  const cached = input >= CACHED_PREFIX ? CACHED_PREFIX : 0;
  return { input, cached, output: 12 + Math.floor(words / 2), words, text: `You said ${words} words.` };
}

function startModelStandin(port = 0) {
  /** tenant → { calls, input, cacheRead, output } (input = uncached input, as tenantscope's token_type="input") */
  const ledger = {};
  const record = (tenant, provider, model, u) => {
    const key = String(tenant ?? 'unknown');
    const byTenant = (ledger[key] ??= {});
    const e = (byTenant[`${provider} ${model}`] ??= { provider, model, calls: 0, input: 0, cacheRead: 0, output: 0 });
    e.calls++;
    e.input += u.input - u.cached;
    e.cacheRead += u.cached;
    e.output += u.output;
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      handle(req, res, body).catch((err) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err && err.message), type: 'server_error' } }));
      });
    });
  });

  async function handle(req, res, text) {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/ledger') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ledger));
      return;
    }
    const body = text ? JSON.parse(text) : {};
    if (req.method === 'POST' && path.endsWith('/chat/completions')) return chat(res, body);
    if (req.method === 'POST' && path.endsWith('/messages')) return messages(res, body);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found"}}');
  }

  async function chat(res, body) {
    const a = answer(body.messages ?? []);
    const usage = { prompt_tokens: a.input, completion_tokens: a.output, total_tokens: a.input + a.output, prompt_tokens_details: { cached_tokens: a.cached } };
    const base = { id: 'chatcmpl-standin', created: 1_760_000_000, model: body.model };
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    if (body.stream !== true) {
      await pause(Math.min(40 + 4 * a.words, 1500));
      record(body.user, 'openai', body.model, a);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: a.text }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (o) => res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...o })}\n\n`);
    await pause(40);
    const parts = a.text.split(/(?<= )/);
    for (const p of parts) {
      send({ choices: [{ index: 0, delta: { content: p }, finish_reason: null }] });
      await pause(Math.min(4 * a.words, 1460) / parts.length);
    }
    send({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    if (body.stream_options?.include_usage === true) send({ choices: [], usage });
    record(body.user, 'openai', body.model, a);
    res.end('data: [DONE]\n\n');
  }

  async function messages(res, body) {
    const tenant = body.metadata?.user_id;
    // Overloaded for about one request in three, chosen by the request itself: the same traffic fails the same way.
    const digest = createHash('sha256').update(JSON.stringify(body.messages ?? [])).digest();
    if (digest[0] % 3 === 0) {
      res.writeHead(529, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
      return;
    }
    const a = answer(body.messages ?? [], typeof body.system === 'string' ? body.system : undefined);
    await new Promise((r) => setTimeout(r, 60));
    record(tenant, 'anthropic', body.model, a);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'msg_standin',
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [{ type: 'text', text: `A conversation of ${(body.messages ?? []).length} messages.` }],
        stop_reason: 'end_turn',
        usage: { input_tokens: a.input - a.cached, cache_read_input_tokens: a.cached, cache_creation_input_tokens: 0, output_tokens: a.output },
      })
    );
  }

  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        ledger: () => ledger,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

module.exports = { startModelStandin };

const { isMainThread, parentPort, workerData } = require('node:worker_threads');
if (!isMainThread && workerData?.standin === true) {
  // Started by models.js in a worker thread: report the URL back.
  startModelStandin(0).then((s) => parentPort.postMessage(s.url));
} else if (require.main === module) {
  startModelStandin(Number(process.argv[2] ?? 8081)).then((s) => console.log(`MODEL_STANDIN ${s.url}`));
}
