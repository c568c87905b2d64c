/**
 * FirstRequireTrigger: the hook that loads an upstream instrumentation when the app first requires its library.
 * Installing it wraps `Module.prototype.require` for the rest of the process (as the preload does), so this file
 * uses built-in modules the test runner has not loaded (dgram, dns, tls, v8) as the libraries.
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import { test } from 'node:test';
import { DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import { FirstRequireTrigger } from '../../src/core/FirstRequireTrigger';

type Proto = { require(this: unknown, id: string): unknown };
const proto = (Module as unknown as { prototype: Proto }).prototype;

const warnings: string[] = [];
const logger: DiagLogger = {
  error: (m: string) => warnings.push(m),
  warn: (m: string) => warnings.push(m),
  info: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
};
diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

const fired: string[] = [];
let seenByLateHook: string[] = [];
const trigger = new FirstRequireTrigger({ ignoreRequirer: (f) => f.includes('/node_modules/@opentelemetry/') });
trigger.on(['dgram'], () => fired.push('dgram'));
trigger.on(['dns', 'tls'], () => fired.push('dns|tls'));
// Like an instrumentation whose require-in-the-middle hook is created while it fires: it wraps `require` outside
// the call in progress, and must still see that call.
trigger.on(['v8'], () => {
  fired.push('v8');
  const inner = proto.require;
  proto.require = function (this: unknown, id: string): unknown {
    seenByLateHook.push(id);
    return inner.call(this, id);
  };
});
trigger.on(['zlib'], () => {
  throw new Error('instrumentation failed to build');
});
trigger.install();

test('fires once, before the first require of one of its modules, and never again', () => {
  assert.deepEqual(fired, []);
  const dgram = require('node:dgram') as typeof import('node:dgram');
  assert.equal(typeof dgram.createSocket, 'function');
  require('dgram');
  assert.deepEqual(fired, ['dgram']);
});

test('one callback for several modules runs once, whichever comes first', () => {
  require('tls');
  require('dns');
  assert.deepEqual(fired.filter((f) => f === 'dns|tls'), ['dns|tls']);
});

test('a require from an ignored file (an OpenTelemetry package) fires nothing; the app\'s next one does', () => {
  const fromExporter = { filename: '/srv/app/node_modules/@opentelemetry/otlp-exporter-base/dist/index.cjs' };
  // The `require` of a module loaded from inside an OpenTelemetry package.
  const v8 = proto.require.call(fromExporter, 'node:v8');
  assert.equal(typeof (v8 as { getHeapStatistics: unknown }).getHeapStatistics, 'function');
  assert.deepEqual(fired.includes('v8'), false);
  seenByLateHook = [];
  require('v8');
  assert.deepEqual(fired.includes('v8'), true);
  assert.deepEqual(seenByLateHook, ['v8'], 'the hook installed while firing saw the require that fired it');
});

test('a callback that throws is logged once and the app still gets its module', () => {
  const zlib = require('zlib') as typeof import('node:zlib');
  assert.equal(typeof zlib.gzipSync, 'function');
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0], 'tenantscope: could not load the instrumentation for zlib (Error: instrumentation failed to build); the app runs on without it');
});
