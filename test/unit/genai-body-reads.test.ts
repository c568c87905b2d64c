/**
 * Every way of reading a model response ends its span with usage: the body is observed at the transport, so
 * `clone().json()`, `body.getReader()`, `text()`, `arrayBuffer()` and async iteration all count, and a body never
 * read ends after the body timeout with `tenantscope.model.usage_missing`. Plain `fetch` (as apps and thin
 * clients call the APIs) against the loopback provider peer, a stand-in for api.openai.com (no network here).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { OPENAI_CHAT_USAGE } from '../helpers/providerPeer';

const TIMEOUT_MS = 150;
let h: GenAIHarness;

before(async () => {
  h = await startGenAIHarness({ bodyTimeoutMs: TIMEOUT_MS });
});
after(async () => h.close());
beforeEach(() => h.reset());

function chat(stream = false, scenario?: string): Promise<Response> {
  return fetch(`${h.peer.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(scenario !== undefined ? { 'x-peer-scenario': scenario } : {}) },
    body: JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'x' }] }),
  });
}

function assertUsage(s: { attributes: Record<string, unknown> }): void {
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], OPENAI_CHAT_USAGE.prompt_tokens);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], OPENAI_CHAT_USAGE.completion_tokens);
  assert.equal(s.attributes['tenantscope.model.usage_missing'], undefined);
}

test('the caller gets a Response with the same status, headers, url and body', async () => {
  const res = await chat();
  assert.ok(res instanceof Response);
  assert.equal(res.status, 200);
  assert.equal(res.url, `${h.peer.url}/v1/chat/completions`);
  assert.equal(res.redirected, false);
  assert.equal(res.type, 'basic');
  assert.equal(res.headers.get('request-id'), 'req_standin');
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  assert.equal(body.choices[0].message.content, 'Hello from the stand-in.');
  assertUsage((await waitForSpans(h, 1))[0]);
});

test('clone().json(): the span ends with usage though the original body is never read', async () => {
  const res = await withTenant('cloner', () => chat());
  const body = (await res.clone().json()) as { id: string };
  assert.equal(body.id, 'chatcmpl-standin1');
  const [s] = await waitForSpans(h, 1);
  assertUsage(s);
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'cloner', token_type: 'output' }), 400);
});

test('body.getReader() read to the end: the span ends with usage', async () => {
  const res = await chat();
  const reader = res.body!.getReader();
  let n = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    n += r.value.byteLength;
  }
  assert.ok(n > 100);
  assertUsage((await waitForSpans(h, 1))[0]);
});

test('text() and arrayBuffer() end the span with usage', async () => {
  assert.match(await (await chat()).text(), /chatcmpl-standin1/);
  assert.ok((await (await chat()).arrayBuffer()).byteLength > 100);
  const spans = await waitForSpans(h, 2);
  assert.equal(spans.length, 2);
  for (const s of spans) assertUsage(s);
});

test('a streamed body read with getReader() ends the span with usage and no hidden chunk reaching the caller', async () => {
  const res = await chat(true);
  const text = await new Response(res.body).text();
  assert.ok(!text.includes('"choices":[]'), 'the usage-only chunk we asked for is hidden');
  assert.match(text, /\[DONE\]/);
  assertUsage((await waitForSpans(h, 1))[0]);
});

test('a body never read ends its span after the body timeout, without usage, at the time the response came', async () => {
  const t0 = Date.now();
  const res = await withTenant('ignorer', () => chat());
  assert.equal(res.status, 200);
  assert.equal(h.spans().length, 0, 'not ended before the timeout');
  const [s] = await waitForSpans(h, 1, 3000);
  assert.ok(Date.now() - t0 >= TIMEOUT_MS);
  assert.equal(s.attributes['tenantscope.model.usage_missing'], true);
  assert.equal(s.attributes['tenantscope.model.stream_end'], 'unread');
  // Ended when the body was last touched (the response), not when the timer fired.
  const ms = s.duration[0] * 1000 + s.duration[1] / 1e6;
  assert.ok(ms < TIMEOUT_MS, `duration ${ms} ms`);
  const l = { provider: 'openai', model: 'gpt-4o', tenant_id: 'ignorer' };
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 0);
  // Reading it later still works, and counts nothing twice.
  assert.match(await res.text(), /chatcmpl-standin1/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.spans().length, 1);
});

test('a stream the app stops reading ends after the body timeout as abandoned', async () => {
  const res = await chat(true);
  const reader = res.body!.getReader();
  await reader.read();
  const [s] = await waitForSpans(h, 1, 3000);
  assert.equal(s.attributes['tenantscope.model.stream_end'], 'abandoned');
  assert.equal(s.attributes['tenantscope.model.usage_missing'], true);
  await reader.cancel();
});

test('a provider slower than the body timeout between chunks is not an unread body', async () => {
  // A stand-in that waits three timeouts between its two events while the app is waiting on read().
  const slow: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ id: 'c1', model: 'gpt-4o', choices: [{ index: 0, delta: { content: 'Hi' } }] })}\n\n`);
    setTimeout(() => {
      res.write(`data: ${JSON.stringify({ id: 'c1', model: 'gpt-4o', choices: [], usage: OPENAI_CHAT_USAGE })}\n\ndata: [DONE]\n\n`);
      res.end();
    }, 3 * TIMEOUT_MS);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [] }),
    });
    await res.text();
    const [s] = await waitForSpans(h, 1);
    assertUsage(s);
    assert.equal(s.attributes['tenantscope.model.stream_end'], undefined);
  } finally {
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  }
});
