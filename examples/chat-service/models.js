'use strict';
// The chat service's model calls, with the official SDKs: a streamed OpenAI chat completion for each reply, an
// Anthropic message for each summary. Against the real APIs when OPENAI_API_KEY / ANTHROPIC_API_KEY are set (an
// empty value counts as unset), else against the deterministic stand-in (model-standin.js) at MODEL_STANDIN_URL,
// or one started here in a worker thread when that is unset. The tenant is passed as the provider's end-user
// field, as abuse monitoring asks.
const OpenAI = require('openai').default;
const Anthropic = require('@anthropic-ai/sdk').default;

const REPLY_MODEL = process.env.REPLY_MODEL || 'gpt-4o-mini';
const SUMMARY_MODEL = process.env.SUMMARY_MODEL || 'claude-haiku-4-5';
const OPENAI_KEY = process.env.OPENAI_API_KEY || undefined;
const ANTHROPIC_KEY = process.env.ANTHROPIC_API_KEY || undefined;
/** A long, fixed system prompt: past 1,024 tokens, so providers serve most of it from their prompt cache. */
const SYSTEM = `You are the support assistant of a multi-tenant chat product. ${'Answer briefly, politely and only from the conversation. '.repeat(80)}`;

/**
 * The stand-in's URL: MODEL_STANDIN_URL, else one started here in a worker thread with no preload (so its own
 * HTTP server is not part of this service's telemetry). Not used for a provider whose API key is set.
 */
const standin =
  OPENAI_KEY !== undefined && ANTHROPIC_KEY !== undefined
    ? Promise.resolve(undefined)
    : process.env.MODEL_STANDIN_URL
      ? Promise.resolve(process.env.MODEL_STANDIN_URL)
      : new Promise((resolve, reject) => {
          const { Worker } = require('node:worker_threads');
          const w = new Worker(require.resolve('./model-standin.js'), { execArgv: [], workerData: { standin: true } });
          w.once('message', resolve);
          w.once('error', reject);
          w.unref();
        });

let clients;
function sdkClients() {
  clients ??= standin.then((url) => ({
    openai: OPENAI_KEY ? new OpenAI({ apiKey: OPENAI_KEY, maxRetries: 0 }) : new OpenAI({ apiKey: 'standin', baseURL: `${url}/v1`, maxRetries: 0 }),
    anthropic: ANTHROPIC_KEY ? new Anthropic({ apiKey: ANTHROPIC_KEY, maxRetries: 0 }) : new Anthropic({ apiKey: 'standin', baseURL: url, maxRetries: 0 }),
  }));
  return clients;
}

/**
 * The assistant's reply to `text`, streamed from the model: `onToken` (optional) gets each piece of text as the
 * model sends it; the joined reply is returned. `signal` aborts the call (the client went away).
 */
async function reply(tenant, text, onToken, signal) {
  const { openai } = await sdkClients();
  const stream = await openai.chat.completions.create(
    {
      model: REPLY_MODEL,
      stream: true,
      stream_options: { include_usage: true },
      user: tenant,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: text },
      ],
    },
    { signal }
  );
  let out = '';
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.delta?.content;
    if (!piece) continue;
    out += piece;
    onToken?.(piece);
  }
  // The SDK ends the iteration quietly when the call is aborted: never pass a cut-off reply on as a whole one.
  signal?.throwIfAborted();
  return out;
}

/** A short summary of a conversation's messages ({role, body}). */
async function summarize(tenant, messages) {
  const { anthropic } = await sdkClients();
  const res = await anthropic.messages.create({
    model: SUMMARY_MODEL,
    max_tokens: 200,
    system: SYSTEM,
    metadata: { user_id: tenant },
    messages: [{ role: 'user', content: messages.map((m) => `${m.role}: ${m.body}`).join('\n') || '(empty conversation)' }],
  });
  return res.content.map((c) => c.text ?? '').join('');
}

module.exports = { reply, summarize, REPLY_MODEL, SUMMARY_MODEL };
