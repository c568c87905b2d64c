import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HTTP_METHOD_LABELS,
  MAX_KEY_ENDPOINT_INDEX,
  MAX_KEY_METHOD_INDEX,
  MAX_KEY_STATUS,
  httpMethodIndex,
  requestKey,
} from '../../src/core/RequestKey';

test('the bounds are 17 bits of endpoint index, 4 of method index and 10 of status', () => {
  assert.equal(MAX_KEY_ENDPOINT_INDEX, 131_071);
  assert.equal(MAX_KEY_METHOD_INDEX, 15);
  assert.equal(MAX_KEY_STATUS, 1023);
  // The largest key is the largest non-negative int32.
  assert.equal(requestKey(MAX_KEY_ENDPOINT_INDEX, MAX_KEY_METHOD_INDEX, MAX_KEY_STATUS), 2 ** 31 - 1);
  assert.equal(requestKey(0, 0, 0), 0);
});

test('distinct tuples within the bounds get distinct keys (every method and status, endpoints across the range)', () => {
  const endpoints = [0, 1, 2, 3, 63, 64, 65, 200, 201, 1023, 1024, 100_001, MAX_KEY_ENDPOINT_INDEX - 1, MAX_KEY_ENDPOINT_INDEX];
  const keys = new Set<number>();
  let tuples = 0;
  for (const e of endpoints) {
    for (let m = 0; m <= MAX_KEY_METHOD_INDEX; m++) {
      for (let s = 0; s <= MAX_KEY_STATUS; s++) {
        const k = requestKey(e, m, s);
        assert.ok(Number.isInteger(k) && k >= 0 && k <= 2 ** 31 - 1);
        keys.add(k);
        tuples++;
      }
    }
  }
  assert.equal(tuples, endpoints.length * 16 * 1024);
  assert.equal(keys.size, tuples);
});

test('values outside the bounds are rejected, not wrapped onto another tuple', () => {
  const bad = [-1, 1.5, Number.NaN, Infinity, 2 ** 32, 2 ** 32 + 5];
  for (const v of [...bad, MAX_KEY_ENDPOINT_INDEX + 1]) assert.throws(() => requestKey(v, 1, 200), RangeError, `endpoint index ${v}`);
  for (const v of [...bad, MAX_KEY_METHOD_INDEX + 1]) assert.throws(() => requestKey(2, v, 200), RangeError, `method index ${v}`);
  for (const v of [...bad, MAX_KEY_STATUS + 1]) assert.throws(() => requestKey(2, 1, v), RangeError, `status ${v}`);
  assert.throws(() => requestKey(MAX_KEY_ENDPOINT_INDEX + 1, 0, 0), /endpoint index 131072 \(0–131071\)/);
});

test('method indexes: 0 is _OTHER, the listed methods are 1 … and fit the key', () => {
  assert.equal(HTTP_METHOD_LABELS[0], '_OTHER');
  assert.ok(HTTP_METHOD_LABELS.length - 1 <= MAX_KEY_METHOD_INDEX);
  for (let i = 1; i < HTTP_METHOD_LABELS.length; i++) assert.equal(httpMethodIndex(HTTP_METHOD_LABELS[i]), i);
  assert.equal(httpMethodIndex('GET'), 1);
  assert.equal(httpMethodIndex('BREW'), 0);
  assert.equal(httpMethodIndex('get'), 0);
  // instrumentation-http's own spelling of an unknown method is just another unknown method.
  assert.equal(httpMethodIndex('_OTHER'), 0);
});
