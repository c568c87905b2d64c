import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';

test('"private" admits loopback, RFC 1918, unique-local, single-label and cluster names', () => {
  const p = new HostPolicy(['private']);
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '::1', '[::1]', 'fd00::1', 'fc12::5', 'redis', 'billing', 'api.default.svc', 'api.ns.svc.cluster.local', 'db.internal', 'printer.local', 'app.localhost', 'nas.lan', 'box.home.arpa']) {
    assert.equal(p.isInternal(h), true, h);
  }
});

test('"private" refuses public addresses and names', () => {
  const p = new HostPolicy(['private']);
  for (const h of ['api.openai.com', 'api.anthropic.com', '8.8.8.8', '172.15.0.1', '172.32.0.1', '192.169.0.1', '11.0.0.1', '169.254.169.254', '2001:db8::1', 'svc.example.com', 'internal.example.com']) {
    assert.equal(p.isInternal(h), false, h);
  }
});

test('an unknown destination is never internal', () => {
  const p = new HostPolicy(['*']);
  assert.equal(p.isInternal(undefined), false);
  assert.equal(p.isInternal(''), false);
  assert.equal(p.isInternal(8080), false);
});

test('"*" admits every named host', () => {
  const p = new HostPolicy(['*']);
  assert.equal(p.isInternal('api.openai.com'), true);
  assert.equal(p.isInternal('8.8.8.8'), true);
});

test('exact names and *.suffix patterns admit only what they name', () => {
  const p = new HostPolicy(['billing.example.com', '*.corp.example']);
  assert.equal(p.isInternal('billing.example.com'), true);
  assert.equal(p.isInternal('Billing.Example.com'), true);
  assert.equal(p.isInternal('billing.example.com.evil.net'), false);
  assert.equal(p.isInternal('a.corp.example'), true);
  assert.equal(p.isInternal('a.b.corp.example'), true);
  assert.equal(p.isInternal('corp.example'), false);
  assert.equal(p.isInternal('evilcorp.example'), false);
  // Without "private", loopback is not internal.
  assert.equal(p.isInternal('localhost'), false);
  assert.equal(p.isInternal('redis'), false);
});

test('no patterns: nothing is internal', () => {
  const p = new HostPolicy([]);
  assert.equal(p.isInternal('localhost'), false);
  assert.equal(p.isInternal('10.0.0.1'), false);
});

test('decisions stay right after the memo bound is passed', () => {
  const p = new HostPolicy(['private']);
  for (let i = 0; i < 2500; i++) p.isInternal(`h${i}.example.com`);
  assert.equal(p.isInternal('10.0.0.1'), true);
  assert.equal(p.isInternal('h1.example.com'), false);
});
