import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { TENANT_ID_PATTERN, TenantRegistry, isTenantIdSpelling } from '../../src/core/tenant/TenantRegistry';

test('valid ids are used as given, up to 64 characters of the allowed charset', () => {
  const r = new TenantRegistry({ maxTenants: 10 });
  for (const id of ['acme', 'a', 'ACME-Corp', 'tenant.eu-1', 'org:42', 'A_b', '9lives', 'x'.repeat(64), 'unknown1', 'Overflows']) {
    assert.equal(r.spanId(id), id, id);
  }
});

test('an absent tenant is unknown', () => {
  const r = new TenantRegistry({ maxTenants: 10 });
  assert.equal(r.spanId(undefined), 'unknown');
  assert.equal(r.spanId(null), 'unknown');
  assert.equal(r.spanId(''), 'unknown');
});

test('values that fail validation are invalid', () => {
  const r = new TenantRegistry({ maxTenants: 10 });
  const bad: unknown[] = [
    'x'.repeat(65),
    '-acme',
    '.acme',
    'a b',
    'acme\t',
    'ac"me',
    'a{b}',
    "a'; DROP TABLE tenants;--",
    'a"} or vector(1)',
    'tënant',
    'a\nb',
    '../etc',
    42,
    {},
    ['acme'],
  ];
  for (const v of bad) assert.equal(r.spanId(v), 'invalid', JSON.stringify(v));
});

test('a real id spelled like a reserved value is invalid', () => {
  const r = new TenantRegistry({ maxTenants: 10 });
  assert.equal(r.spanId('unknown'), 'invalid');
  assert.equal(r.spanId('invalid'), 'invalid');
  assert.equal(r.spanId('overflow'), 'invalid');
});

test('reserved values are matched in any case: UNKNOWN, Invalid and oVeRfLoW are invalid, never a tenant of their own', () => {
  const r = new TenantRegistry({ maxTenants: 10 });
  for (const v of ['UNKNOWN', 'Unknown', 'Invalid', 'INVALID', 'oVeRfLoW', 'Overflow']) {
    assert.equal(r.spanId(v), 'invalid', v);
    assert.equal(r.indexOfAttribute(v), r.index('invalid'), v);
  }
  assert.equal(r.admittedCount, 0);
});

test('the first maxTenants ids are admitted; later ones label as overflow, admitted ones stay', () => {
  const r = new TenantRegistry({ maxTenants: 2 });
  assert.equal(r.label('a'), 'a');
  assert.equal(r.label('b'), 'b');
  assert.equal(r.label('c'), 'overflow');
  assert.equal(r.label('a'), 'a');
  assert.equal(r.label('d'), 'overflow');
  assert.equal(r.admittedCount, 2);
});

test('reserved labels pass through without taking an admission slot', () => {
  const r = new TenantRegistry({ maxTenants: 1 });
  assert.equal(r.label('unknown'), 'unknown');
  assert.equal(r.label('invalid'), 'invalid');
  assert.equal(r.label('overflow'), 'overflow');
  assert.equal(r.admittedCount, 0);
  assert.equal(r.label('acme'), 'acme');
  assert.equal(r.admittedCount, 1);
});

test('with a hash key, ids are a keyed HMAC: deterministic, valid charset, never the raw id', () => {
  const key = 'k'.repeat(32);
  const r = new TenantRegistry({ maxTenants: 10, hashKey: key });
  const expected = 't' + createHmac('sha256', key).update('acme').digest('hex').slice(0, 16);
  assert.equal(r.spanId('acme'), expected);
  assert.equal(r.spanId('acme'), expected);
  assert.equal(new TenantRegistry({ maxTenants: 10, hashKey: key }).spanId('acme'), expected);
  assert.notEqual(new TenantRegistry({ maxTenants: 10, hashKey: 'other-key-other-key' }).spanId('acme'), expected);
  for (let i = 0; i < 1000; i++) {
    const raw = `tenant-${i}`;
    const h = r.spanId(raw);
    assert.match(h, TENANT_ID_PATTERN);
    assert.match(h, /^t[0-9a-f]{16}$/);
    assert.notEqual(h, raw);
  }
  // Invalid, absent and reserved values are not hashed.
  assert.equal(r.spanId('a b'), 'invalid');
  assert.equal(r.spanId('overflow'), 'invalid');
  assert.equal(r.spanId(undefined), 'unknown');
});

test('the hash memo stays correct past its bound', () => {
  const key = 'memo-key-memo-key';
  const r = new TenantRegistry({ maxTenants: 10, hashKey: key });
  for (let i = 0; i < 12_000; i++) r.spanId(`t${i}`);
  assert.equal(r.spanId('t5'), 't' + createHmac('sha256', key).update('t5').digest('hex').slice(0, 16));
});

test('the character-table check of an id agrees with TENANT_ID_PATTERN on every string', () => {
  const samples = ['', 'a', '-a', 'a-', 'a\n', 'a\nb', '\u00e9', 'a\u00e9', 'x'.repeat(64), 'x'.repeat(65), 'a b', 'A.b_c:d-9', '_a', ':a', '9'];
  // Every one- and two-character string over the first 256 code units, and a few longer ones from them.
  for (let a = 0; a < 256; a++) {
    samples.push(String.fromCharCode(a), 'a' + String.fromCharCode(a), String.fromCharCode(a) + 'a', 'ab' + String.fromCharCode(a) + 'cd');
  }
  for (const s of samples) assert.equal(isTenantIdSpelling(s), TENANT_ID_PATTERN.test(s), JSON.stringify(s));
});
