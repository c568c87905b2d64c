import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/core/config';
import { EndpointMatch, EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MAX_KEY_ENDPOINT_INDEX } from '../../src/core/RequestKey';

const norm = (path: string, templates?: string[]): string => new EndpointNormalizer({ maxEndpoints: 100, templates }).normalizePath(path);

test('numeric segments fold into :id', () => {
  assert.equal(norm('/users/123'), '/users/:id');
  assert.equal(norm('/users/0/orders/98765432101234'), '/users/:id/orders/:id');
});

test('UUIDs fold into :uuid, with or without dashes and in any case', () => {
  assert.equal(norm('/c/550e8400-e29b-41d4-a716-446655440000'), '/c/:uuid');
  assert.equal(norm('/c/550E8400E29B41D4A716446655440000'), '/c/:uuid');
});

test('hex strings of 16 characters or more fold into :hash', () => {
  assert.equal(norm('/blob/deadbeefdeadbeef'), '/blob/:hash');
  assert.equal(norm('/commit/0123456789abcdef0123456789abcdef01234567'), '/commit/:hash');
  // 15 hex characters with digits: a generated-looking token, folded as an id; 8 letters-only hex stays.
  assert.equal(norm('/blob/0123456789abcde'), '/blob/:id');
  assert.equal(norm('/blob/deadbeef'), '/blob/deadbeef');
});

test('long tokens mixing letters and digits fold into :id, short words and versions stay', () => {
  assert.equal(norm('/orders/ord-20391'), '/orders/:id');
  assert.equal(norm('/reports/2024-05-30'), '/reports/:id');
  assert.equal(norm('/v1/chats'), '/v1/chats');
  assert.equal(norm('/api/v2/health'), '/api/v2/health');
  assert.equal(norm('/oauth2'), '/oauth2');
});

test('underscores are ordinary path characters; an underscore id with digits folds into :id', () => {
  assert.equal(norm('/v1/chat_completions'), '/v1/chat_completions');
  assert.equal(norm('/conversations/conv_8f3k2j1'), '/conversations/:id');
});

test('unsafe and over-long segments fold into :param', () => {
  assert.equal(norm('/search/hello%20world'), '/search/:param');
  assert.equal(norm('/x/{"a":1}'), '/x/:param');
  assert.equal(norm('/x/a b'), '/x/:param');
  assert.equal(norm('/x/' + 'z'.repeat(65)), '/x/:param');
  assert.equal(norm('/x/' + 'z'.repeat(64)), '/x/' + 'z'.repeat(64));
  assert.equal(norm('/x/é'), '/x/:param');
});

test('query strings and fragments are dropped', () => {
  assert.equal(norm('/users/42?token=secret&tenant=acme'), '/users/:id');
  assert.equal(norm('/docs#section-2'), '/docs');
  assert.equal(norm('/?q=1'), '/');
});

test('empty segments collapse and the root stays /', () => {
  assert.equal(norm(''), '/');
  assert.equal(norm('/'), '/');
  assert.equal(norm('//a///b/'), '/a/b');
});

test('paths deeper than 8 segments keep 8 and end in /*', () => {
  assert.equal(norm('/a/b/c/d/e/f/g/h'), '/a/b/c/d/e/f/g/h');
  assert.equal(norm('/a/b/c/d/e/f/g/h/i/j/k'), '/a/b/c/d/e/f/g/h/*');
});

test('configured templates win over folding, segment by segment, :param or {param} style', () => {
  const t = ['/v1/chats/:chatId/messages', '/v1/users/{userId}'];
  assert.equal(norm('/v1/chats/abc/messages', t), '/v1/chats/:chatId/messages');
  assert.equal(norm('/v1/chats/12/messages?x=1', t), '/v1/chats/:chatId/messages');
  assert.equal(norm('/v1/users/bob', t), '/v1/users/{userId}');
  // Different length or literal: default folding.
  assert.equal(norm('/v1/chats/12/messages/7', t), '/v1/chats/:id/messages/:id');
  assert.equal(norm('/v1/chat/12/messages', t), '/v1/chat/:id/messages');
});

test('templates come from TENANTSCOPE_ENDPOINT_TEMPLATES', () => {
  const config = loadConfig({ TENANTSCOPE_ENDPOINT_TEMPLATES: '/t/:tenant/chats/:chat, /health' });
  assert.deepEqual(config.endpointTemplates, ['/t/:tenant/chats/:chat', '/health']);
  const n = new EndpointNormalizer({ maxEndpoints: 10, templates: config.endpointTemplates });
  assert.equal(n.endpoint(undefined, '/t/acme/chats/c1', 200), '/t/:tenant/chats/:chat');
});

test('the framework route wins over the raw path', () => {
  const n = new EndpointNormalizer({ maxEndpoints: 10 });
  assert.equal(n.endpoint('/users/:userId', '/users/42', 200), '/users/:userId');
  assert.equal(n.endpoint('', '/users/42', 200), '/users/:id');
});

/** Resolves into one reused match, as the RED processor does, and returns a copy of it. */
function resolver(n: EndpointNormalizer): (route: unknown, path: unknown, status: number) => { label: string; index: number; folded: boolean } {
  const m = new EndpointMatch();
  return (route, path, status) => {
    const r = n.resolve(route, path, status, m);
    assert.equal(r, m);
    return { label: m.label, index: m.index, folded: m.folded };
  };
}

test('a 404 without a route, or a request without a path, is unmatched and takes no admission slot', () => {
  const resolve = resolver(new EndpointNormalizer({ maxEndpoints: 1 }));
  assert.deepEqual(resolve(undefined, '/wp-admin/setup.php', 404), { label: 'unmatched', index: 0, folded: false });
  assert.deepEqual(resolve(undefined, undefined, 200), { label: 'unmatched', index: 0, folded: false });
  assert.deepEqual(resolve(undefined, '/a', 200), { label: '/a', index: 2, folded: false });
  // A 404 on a matched route keeps its route.
  assert.deepEqual(resolve('/a', '/a', 404), { label: '/a', index: 2, folded: false });
});

test('past the endpoint limit new endpoints fold into overflow and each folded request says so', () => {
  const resolve = resolver(new EndpointNormalizer({ maxEndpoints: 3 }));
  assert.deepEqual(resolve(undefined, '/a', 200), { label: '/a', index: 2, folded: false });
  assert.deepEqual(resolve('/b/:id', '/b/1', 200), { label: '/b/:id', index: 3, folded: false });
  assert.deepEqual(resolve(undefined, '/c/9', 200), { label: '/c/:id', index: 4, folded: false });
  assert.deepEqual(resolve(undefined, '/d', 200), { label: 'overflow', index: 1, folded: true });
  assert.deepEqual(resolve(undefined, '/e', 500), { label: 'overflow', index: 1, folded: true });
  assert.deepEqual(resolve(undefined, '/d', 200), { label: 'overflow', index: 1, folded: true });
  // Admitted endpoints keep working, with the same index, including new raw ids on them.
  assert.deepEqual(resolve(undefined, '/c/12345', 200), { label: '/c/:id', index: 4, folded: false });
  assert.deepEqual(resolve('/b/:id', '/b/2', 200), { label: '/b/:id', index: 3, folded: false });
});

test('a route longer than 256 characters becomes overflow without taking a slot', () => {
  const resolve = resolver(new EndpointNormalizer({ maxEndpoints: 10 }));
  assert.deepEqual(resolve('/' + 'r'.repeat(256), '/x', 200), { label: 'overflow', index: 1, folded: false });
  assert.deepEqual(resolve('/r', '/r', 200), { label: '/r', index: 2, folded: false });
});

test('ten thousand distinct raw ids on one route give one endpoint', () => {
  const n = new EndpointNormalizer({ maxEndpoints: 5 });
  const resolve = resolver(n);
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const r = resolve(undefined, `/chats/${i * 7919}/messages/${crypto.randomUUID()}`, 200);
    assert.equal(r.folded, false);
    seen.add(`${r.label} ${r.index}`);
  }
  assert.deepEqual([...seen], ['/chats/:id/messages/:uuid 2']);
  assert.equal(n.endpoint(undefined, '/chats/1/messages/2', 200), '/chats/:id/messages/:id');
});

test('a limit beyond what a request key holds is capped: every endpoint index stays within the key bound', () => {
  const n = new EndpointNormalizer({ maxEndpoints: 1_000_000 });
  const resolve = resolver(n);
  let last = resolve('/r0', undefined, 200);
  // Indexes 0 and 1 are unmatched and overflow; /r<i> gets i + 2.
  for (let i = 1; i <= MAX_KEY_ENDPOINT_INDEX - 2; i++) last = resolve(`/r${i}`, undefined, 200);
  assert.deepEqual(last, { label: `/r${MAX_KEY_ENDPOINT_INDEX - 2}`, index: MAX_KEY_ENDPOINT_INDEX, folded: false });
  assert.deepEqual(resolve(`/r${MAX_KEY_ENDPOINT_INDEX - 1}`, undefined, 200), { label: 'overflow', index: 1, folded: true });
});

test('the one-pass scanner folds exactly as segment-by-segment folding does, on 20,000 random hostile paths', () => {
  // With a template configured the normaliser takes the split-and-fold path; without, the one-pass scanner.
  const scan = new EndpointNormalizer({ maxEndpoints: 1e9 });
  const split = new EndpointNormalizer({ maxEndpoints: 1e9, templates: ['/zzz/never/matches/this/template/x/y/z/w'] });
  const alphabet = 'abcdefABCDEFghijXYZ0123456789-_.~/%?#"{}é ';
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(rnd() * 16)]).join('');
  let compared = 0;
  for (let i = 0; i < 20000; i++) {
    let p = '';
    const segs = Math.floor(rnd() * 12);
    for (let s = 0; s < segs; s++) {
      const r = rnd();
      let seg = '';
      if (r < 0.1) seg = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
      else if (r < 0.15) seg = hex(32);
      else if (r < 0.2) seg = String(Math.floor(rnd() * 1e9));
      else {
        const l = Math.floor(rnd() * (rnd() < 0.1 ? 80 : 20));
        for (let k = 0; k < l; k++) seg += alphabet[Math.floor(rnd() * alphabet.length)];
      }
      p += (rnd() < 0.1 ? '//' : '/') + seg;
    }
    assert.equal(scan.normalizePath(p), split.normalizePath(p), JSON.stringify(p));
    compared++;
  }
  assert.equal(compared, 20000);
});
