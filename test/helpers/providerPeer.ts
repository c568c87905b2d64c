/**
 * A loopback stand-in for the OpenAI and Anthropic HTTP APIs (they cannot be called from tests: no network).
 * It answers in each API's documented wire format: OpenAI chat completions, Responses API, embeddings and
 * legacy completions; Anthropic messages; JSON and server-sent-event streams, with cached-token, cache-write
 * and reasoning usage fields. A request header `x-peer-scenario` picks a failure:
 *   `429`, `500`     error status with the provider's error envelope
 *   `truncate`       a stream that stops after two events and drops the connection
 *   `end-early`      a stream that ends cleanly after two events (no usage, no terminator)
 *   `no-usage`       usage left out (JSON) / never sent (stream), even when asked for
 *   `malformed`      a body that is not JSON (JSON) / events whose data is not JSON (stream)
 *   `slow`           streams with 30 ms between events (for abandoning mid-stream)
 *   `long`           long-context usage (over 200K input tokens: Anthropic / Gemini long-context tiers;
 *                    over 272K: OpenAI's)
 * Google Gemini (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
 * `:batchEmbedContents`) is answered on the same server; AWS Bedrock Runtime (`/model/{id}/converse`,
 * `/converse-stream`, `/invoke`, `/invoke-with-response-stream`) on a second, HTTP/2 cleartext server
 * (`bedrockUrl`), as the AWS SDK's default HTTP/2 handler speaks it, with event streams in the AWS event-stream
 * binary framing (encoded here, independently of the SDK).
 * Every request is recorded (path, headers, body text) so tests can check what reached the "provider".
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';

/** Usage the peer reports, so tests can compute exact expected tokens and cost. */
export const OPENAI_CHAT_USAGE = {
  prompt_tokens: 1500,
  completion_tokens: 400,
  total_tokens: 1900,
  prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 128, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
export const OPENAI_RESPONSES_USAGE = {
  input_tokens: 900,
  input_tokens_details: { cached_tokens: 512 },
  output_tokens: 250,
  output_tokens_details: { reasoning_tokens: 64 },
  total_tokens: 1150,
};
export const OPENAI_EMBEDDINGS_USAGE = { prompt_tokens: 42, total_tokens: 42 };
export const ANTHROPIC_USAGE = {
  input_tokens: 300,
  cache_creation_input_tokens: 2000,
  cache_read_input_tokens: 5000,
  cache_creation: { ephemeral_5m_input_tokens: 1500, ephemeral_1h_input_tokens: 500 },
  output_tokens: 700,
  service_tier: 'standard',
};

/** Long-context usage (`x-peer-scenario: long`). */
export const OPENAI_CHAT_USAGE_LONG = {
  prompt_tokens: 300_000,
  completion_tokens: 2_000,
  total_tokens: 302_000,
  prompt_tokens_details: { cached_tokens: 100_000 },
  completion_tokens_details: { reasoning_tokens: 500 },
};
export const ANTHROPIC_USAGE_LONG = {
  input_tokens: 150_000,
  cache_creation_input_tokens: 10_000,
  cache_read_input_tokens: 60_000,
  cache_creation: { ephemeral_5m_input_tokens: 10_000, ephemeral_1h_input_tokens: 0 },
  output_tokens: 3_000,
  service_tier: 'standard',
};
/** Gemini `usageMetadata`: prompt includes the cached tokens; thoughts are billed as output. */
export const GEMINI_USAGE = { promptTokenCount: 1200, cachedContentTokenCount: 800, candidatesTokenCount: 300, thoughtsTokenCount: 150, totalTokenCount: 1650 };
export const GEMINI_USAGE_LONG = { promptTokenCount: 250_000, cachedContentTokenCount: 50_000, candidatesTokenCount: 1_000, thoughtsTokenCount: 500, totalTokenCount: 251_500 };
export const GEMINI_EMBED_USAGE = { promptTokenCount: 42, totalTokenCount: 42 };
/** Bedrock Converse usage: `inputTokens` excludes the cache reads and writes. */
export const BEDROCK_USAGE = { inputTokens: 400, outputTokens: 250, cacheReadInputTokens: 3000, cacheWriteInputTokens: 600, totalTokens: 4250 };

/** The dated snapshot the peer reports for a requested alias (as the real APIs do). */
export const SNAPSHOTS: Record<string, string> = {
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'o4-mini': 'o4-mini-2025-04-16',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929',
  'claude-haiku-4-5': 'claude-haiku-4-5-20251001',
};

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ProviderPeer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `http://127.0.0.1:<port>` of the HTTP/2 cleartext Bedrock Runtime stand-in. */
  readonly bedrockUrl: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts the peer on a free loopback port. */
export async function startProviderPeer(): Promise<ProviderPeer> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      handle(req, res, body).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const h2: Http2Server = createH2Server((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      requests.push({ method: req.method, path: req.url, headers: req.headers as IncomingHttpHeaders, body });
      handleBedrock(req, res, body).catch(() => res.stream.close());
    });
  });
  h2.on('connection', (s: import('node:net').Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const h2port = (h2.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bedrockUrl: `http://127.0.0.1:${h2port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        h2.close(() => server.close(() => r()));
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, text: string): Promise<void> {
  const scenario = String(req.headers['x-peer-scenario'] ?? '');
  const path = (req.url ?? '').split('?')[0];
  const anthropic = path.endsWith('/messages');
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // a request body that is not JSON still gets an answer
  }
  if (scenario === '429' || scenario === '500') {
    const status = Number(scenario);
    const type = status === 429 ? 'rate_limit_error' : 'api_error';
    const payload = anthropic
      ? { type: 'error', error: { type, message: 'stand-in error' } }
      : { error: { message: 'stand-in error', type: status === 429 ? 'requests' : 'server_error', code: status === 429 ? 'rate_limit_exceeded' : null } };
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0', 'x-should-retry': 'false' });
    res.end(JSON.stringify(payload));
    return;
  }
  const gemini = /\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents|embedContent)$/.exec(path);
  if (gemini !== null) return handleGemini(req, res, decodeURIComponent(gemini[1]), gemini[2], scenario);
  const requested = typeof body.model === 'string' ? body.model : 'unknown-model';
  const model = SNAPSHOTS[requested] ?? requested;
  const tier = typeof body.service_tier === 'string' && body.service_tier !== 'auto' ? body.service_tier : 'default';
  const usageless = scenario === 'no-usage';
  const long = scenario === 'long';
  if (body.stream === true) {
    const so = body.stream_options as { include_usage?: boolean } | undefined;
    let events: string[];
    if (anthropic) events = anthropicStream(model, usageless, long);
    else if (path.endsWith('/responses')) events = responsesStream(model, usageless, tier);
    else events = chatStream(model, so?.include_usage === true && !usageless, tier, long);
    if (scenario === 'malformed') events = ['data: {"id": "chatcmpl-bad", "choices": [\n\n', 'data: not json at all\n\n', 'data: [DONE]\n\n'];
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': 'req_standin' });
    const gap = scenario === 'slow' ? 30 : 2;
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if ((scenario === 'truncate' || scenario === 'end-early') && i === 2) {
        if (scenario === 'truncate') res.socket?.destroy();
        else res.end();
        return;
      }
      res.write(events[i]);
      await new Promise((r) => setTimeout(r, gap));
    }
    res.end();
    return;
  }
  let payload: unknown;
  if (anthropic) payload = anthropicMessage(model, usageless, long);
  else if (path.endsWith('/responses')) payload = responsesObject(model, usageless, tier, 'completed');
  else if (path.endsWith('/embeddings')) payload = embeddings(model, usageless);
  else if (path.endsWith('/chat/completions')) payload = chatCompletion(model, usageless, tier, long);
  else payload = textCompletion(model, usageless);
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_standin' });
  res.end(scenario === 'malformed' ? '{"id": "chatcmpl-broken", "choices": [' : JSON.stringify(payload));
}

function chatCompletion(model: string, usageless: boolean, tier: string, long = false): unknown {
  return {
    id: 'chatcmpl-standin1',
    object: 'chat.completion',
    created: 1_760_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the stand-in.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    ...(usageless ? {} : { usage: long ? OPENAI_CHAT_USAGE_LONG : OPENAI_CHAT_USAGE }),
    service_tier: tier,
    system_fingerprint: 'fp_standin',
  };
}

function textCompletion(model: string, usageless: boolean): unknown {
  return {
    id: 'cmpl-standin1',
    object: 'text_completion',
    created: 1_760_000_000,
    model,
    choices: [{ index: 0, text: 'Hello.', logprobs: null, finish_reason: 'length' }],
    ...(usageless ? {} : { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }),
  };
}

function chatStream(model: string, includeUsage: boolean, tier: string, long = false): string[] {
  const base = { id: 'chatcmpl-standin2', object: 'chat.completion.chunk', created: 1_760_000_000, model, service_tier: tier, system_fingerprint: 'fp_standin' };
  // With include_usage every chunk carries `usage: null`, and one extra chunk with empty choices carries usage.
  const u = includeUsage ? { usage: null } : {};
  const chunk = (delta: unknown, finish: string | null): string =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...u })}\n\n`;
  const out = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'Hello' }, null), chunk({ content: ' there' }, null), chunk({}, 'stop')];
  if (includeUsage) out.push(`data: ${JSON.stringify({ ...base, choices: [], usage: long ? OPENAI_CHAT_USAGE_LONG : OPENAI_CHAT_USAGE })}\n\n`);
  out.push('data: [DONE]\n\n');
  return out;
}

function responsesObject(model: string, usageless: boolean, tier: string, status: string): Record<string, unknown> {
  return {
    id: 'resp_standin1',
    object: 'response',
    created_at: 1_760_000_000,
    status,
    model,
    output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi.', annotations: [] }] }],
    incomplete_details: null,
    service_tier: tier,
    usage: usageless ? null : OPENAI_RESPONSES_USAGE,
  };
}

function responsesStream(model: string, usageless: boolean, tier: string): string[] {
  const ev = (type: string, data: Record<string, unknown>, seq: number): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...data })}\n\n`;
  const created = { ...responsesObject(model, true, tier, 'in_progress'), output: [], usage: null };
  return [
    ev('response.created', { response: created }, 0),
    ev('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' }, 1),
    ev('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: '.' }, 2),
    ev('response.completed', { response: responsesObject(model, usageless, tier, 'completed') }, 3),
  ];
}

function embeddings(model: string, usageless: boolean): unknown {
  return {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] }],
    model,
    ...(usageless ? {} : { usage: OPENAI_EMBEDDINGS_USAGE }),
  };
}

function anthropicMessage(model: string, usageless: boolean, long = false): unknown {
  return {
    id: 'msg_standin1',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: 'Hello from the stand-in.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    ...(usageless ? {} : { usage: long ? ANTHROPIC_USAGE_LONG : ANTHROPIC_USAGE }),
  };
}

function anthropicStream(model: string, usageless: boolean, long = false): string[] {
  const ev = (type: string, data: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const usage = long ? ANTHROPIC_USAGE_LONG : ANTHROPIC_USAGE;
  const startUsage = usageless ? undefined : { ...usage, output_tokens: 1 };
  return [
    ev('message_start', {
      message: { id: 'msg_standin2', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: startUsage },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', {}),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' there' } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, ...(usageless ? {} : { usage: { output_tokens: usage.output_tokens } }) }),
    ev('message_stop', {}),
  ];
}

// --- Google Gemini ---

async function handleGemini(req: IncomingMessage, res: ServerResponse, model: string, method: string, scenario: string): Promise<void> {
  const usageless = scenario === 'no-usage';
  const usage = scenario === 'long' ? GEMINI_USAGE_LONG : GEMINI_USAGE;
  if (method === 'batchEmbedContents' || method === 'embedContent') {
    const embedding = { values: [0.1, -0.2, 0.3] };
    const payload = method === 'embedContent' ? { embedding } : { embeddings: [embedding] };
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({ ...payload, ...(usageless ? {} : { usageMetadata: GEMINI_EMBED_USAGE }) }));
    return;
  }
  const chunk = (text: string, finish: boolean, u: unknown): Record<string, unknown> => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, ...(finish ? { finishReason: 'STOP' } : {}), index: 0 }],
    ...(usageless || u === undefined ? {} : { usageMetadata: u }),
    modelVersion: model,
    responseId: 'gem-standin1',
  });
  if (method === 'generateContent') {
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(chunk('Hello from the stand-in.', true, usage)));
    return;
  }
  // Streamed chunks repeat a growing usageMetadata; the last is final.
  const partial = (n: number): unknown => ({ promptTokenCount: usage.promptTokenCount, candidatesTokenCount: n, totalTokenCount: usage.promptTokenCount + n });
  const events = [chunk('Hello', false, partial(1)), chunk(' there', false, partial(2)), chunk('', true, usage)];
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const gap = scenario === 'slow' ? 30 : 2;
  for (let i = 0; i < events.length; i++) {
    if (res.destroyed) return;
    if (scenario === 'truncate' && i === 2) {
      res.socket?.destroy();
      return;
    }
    res.write(`data: ${JSON.stringify(events[i])}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, gap));
  }
  res.end();
}

// --- AWS Bedrock Runtime (HTTP/2) ---

async function handleBedrock(req: Http2ServerRequest, res: Http2ServerResponse, text: string): Promise<void> {
  const scenario = String(req.headers['x-peer-scenario'] ?? '');
  const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(req.url.split('?')[0]);
  if (m === null) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"message":"not found"}');
    return;
  }
  const modelId = decodeURIComponent(m[1]);
  if (scenario === '429') {
    res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/' });
    res.end(JSON.stringify({ message: 'Too many requests, please wait before trying again.' }));
    return;
  }
  const usageless = scenario === 'no-usage';
  switch (m[2]) {
    case 'converse':
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': 'bedrock-standin-1' });
      res.end(
        JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: 'Hello from the stand-in.' }] } },
          stopReason: 'end_turn',
          ...(usageless ? {} : { usage: BEDROCK_USAGE }),
          metrics: { latencyMs: 12 },
        })
      );
      return;
    case 'converse-stream': {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'bedrock-standin-2' });
      const events: [string, unknown][] = [
        ['messageStart', { role: 'assistant' }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello' } }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' there' } }],
        ['contentBlockStop', { contentBlockIndex: 0 }],
        ['messageStop', { stopReason: 'end_turn' }],
      ];
      if (!usageless) events.push(['metadata', { usage: BEDROCK_USAGE, metrics: { latencyMs: 12 } }]);
      for (const [type, payload] of events) {
        res.write(eventStreamMessage(type, payload));
        await new Promise((r) => setTimeout(r, scenario === 'slow' ? 30 : 2));
      }
      res.end();
      return;
    }
    case 'invoke': {
      const body = anthropicMessage(modelId.replace(/^(?:[a-z]{2,4}\.)?anthropic\./, ''), usageless, scenario === 'long');
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amzn-bedrock-input-token-count': String(ANTHROPIC_USAGE.input_tokens),
        'x-amzn-bedrock-output-token-count': String(ANTHROPIC_USAGE.output_tokens),
      });
      res.end(JSON.stringify(body));
      return;
    }
    default: {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      const sse = anthropicStream(modelId, usageless);
      for (const e of sse) {
        const data = /^data: (.*)$/m.exec(e)?.[1] ?? '{}';
        res.write(eventStreamMessage('chunk', { bytes: Buffer.from(data).toString('base64') }));
        await new Promise((r) => setTimeout(r, 2));
      }
      res.end();
      void text;
    }
  }
}

/**
 * One message in the AWS event-stream framing: total length, headers length, prelude CRC32, headers (name,
 * type 7 = string, value), the JSON payload, message CRC32.
 */
function eventStreamMessage(eventType: string, payload: unknown): Buffer {
  const headers = Buffer.concat(
    [
      [':event-type', eventType],
      [':content-type', 'application/json'],
      [':message-type', 'event'],
    ].map(([k, v]) => {
      const name = Buffer.from(k);
      const value = Buffer.from(v);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(value.length);
      return Buffer.concat([Buffer.from([name.length]), name, Buffer.from([7]), len, value]);
    })
  );
  const body = Buffer.from(JSON.stringify(payload));
  const total = 12 + headers.length + body.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(headers.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude));
  const message = Buffer.concat([prelude, preludeCrc, headers, body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(message));
  return Buffer.concat([message, crc]);
}
