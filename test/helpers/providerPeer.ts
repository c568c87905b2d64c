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
 * Every request is recorded (path, headers, body text) so tests can check what reached the "provider".
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
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
  const requested = typeof body.model === 'string' ? body.model : 'unknown-model';
  const model = SNAPSHOTS[requested] ?? requested;
  const tier = typeof body.service_tier === 'string' && body.service_tier !== 'auto' ? body.service_tier : 'default';
  const usageless = scenario === 'no-usage';
  if (body.stream === true) {
    const so = body.stream_options as { include_usage?: boolean } | undefined;
    let events: string[];
    if (anthropic) events = anthropicStream(model, usageless);
    else if (path.endsWith('/responses')) events = responsesStream(model, usageless, tier);
    else events = chatStream(model, so?.include_usage === true && !usageless, tier);
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
  if (anthropic) payload = anthropicMessage(model, usageless);
  else if (path.endsWith('/responses')) payload = responsesObject(model, usageless, tier, 'completed');
  else if (path.endsWith('/embeddings')) payload = embeddings(model, usageless);
  else if (path.endsWith('/chat/completions')) payload = chatCompletion(model, usageless, tier);
  else payload = textCompletion(model, usageless);
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_standin' });
  res.end(scenario === 'malformed' ? '{"id": "chatcmpl-broken", "choices": [' : JSON.stringify(payload));
}

function chatCompletion(model: string, usageless: boolean, tier: string): unknown {
  return {
    id: 'chatcmpl-standin1',
    object: 'chat.completion',
    created: 1_760_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the stand-in.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    ...(usageless ? {} : { usage: OPENAI_CHAT_USAGE }),
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

function chatStream(model: string, includeUsage: boolean, tier: string): string[] {
  const base = { id: 'chatcmpl-standin2', object: 'chat.completion.chunk', created: 1_760_000_000, model, service_tier: tier, system_fingerprint: 'fp_standin' };
  // With include_usage every chunk carries `usage: null`, and one extra chunk with empty choices carries usage.
  const u = includeUsage ? { usage: null } : {};
  const chunk = (delta: unknown, finish: string | null): string =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...u })}\n\n`;
  const out = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'Hello' }, null), chunk({ content: ' there' }, null), chunk({}, 'stop')];
  if (includeUsage) out.push(`data: ${JSON.stringify({ ...base, choices: [], usage: OPENAI_CHAT_USAGE })}\n\n`);
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

function anthropicMessage(model: string, usageless: boolean): unknown {
  return {
    id: 'msg_standin1',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: 'Hello from the stand-in.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    ...(usageless ? {} : { usage: ANTHROPIC_USAGE }),
  };
}

function anthropicStream(model: string, usageless: boolean): string[] {
  const ev = (type: string, data: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const startUsage = usageless ? undefined : { ...ANTHROPIC_USAGE, output_tokens: 1 };
  return [
    ev('message_start', {
      message: { id: 'msg_standin2', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: startUsage },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', {}),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' there' } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, ...(usageless ? {} : { usage: { output_tokens: ANTHROPIC_USAGE.output_tokens } }) }),
    ev('message_stop', {}),
  ];
}
