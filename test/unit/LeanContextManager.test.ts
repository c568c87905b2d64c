import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { ROOT_CONTEXT, createContextKey, type Context, type ContextManager } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { LeanContextManager } from '../../src/core/LeanContextManager';

// Every case runs on upstream's manager and on ours, and the two must agree: what a bound function does is
// upstream's behaviour, only its cost differs.
const KEY = createContextKey('test');
const at = (v: string): Context => ROOT_CONTEXT.setValue(KEY, v);

function managers(): [string, ContextManager][] {
  return [
    ['upstream', new AsyncLocalStorageContextManager().enable()],
    ['lean', new LeanContextManager().enable()],
  ];
}

/** A target of `arity` declared parameters that reports what it saw: receiver, every argument, the active value. */
function target(m: ContextManager, arity: number): (...a: unknown[]) => unknown {
  const params = Array.from({ length: arity }, (_, i) => `p${i}`);
  const make = new Function('see', `return function t(${params.join(', ')}) { return see(this, Array.from(arguments)); };`) as (
    see: (self: unknown, args: unknown[]) => unknown
  ) => (...a: unknown[]) => unknown;
  return make((self, args) => ({ self, args, active: m.active().getValue(KEY) }));
}

test('a bound function of 0 to 6 parameters: same length, receiver, arguments, context and value as upstream', () => {
  const seen: Record<string, unknown[]> = {};
  for (const [name, m] of managers()) {
    seen[name] = [];
    for (let arity = 0; arity <= 6; arity++) {
      const bound = m.bind(at(`bound-${arity}`), target(m, arity)) as (...a: unknown[]) => unknown;
      const receiver = { r: arity };
      const result = m.with(at('caller'), () => {
        const r = bound.call(receiver, 'a', 2, null, undefined, { five: 5 }, 6, 7);
        return { r, after: m.active().getValue(KEY) };
      });
      seen[name].push({ length: bound.length, ...result });
      assert.equal(bound.length, arity, `${name}: length of a ${arity}-parameter target`);
      assert.deepEqual(result.r, { self: receiver, args: ['a', 2, null, undefined, { five: 5 }, 6, 7], active: `bound-${arity}` });
      assert.equal(result.after, 'caller', `${name}: the caller's context is back after the call`);
      // Called with fewer arguments than declared: the target sees only what was passed.
      assert.deepEqual((bound(1) as { args: unknown[] }).args, [1]);
    }
  }
  assert.deepEqual(seen.lean, seen.upstream);
});

test('an exception from the bound function reaches the caller, with the caller context restored', () => {
  for (const [name, m] of managers()) {
    const boom = new TypeError('boom');
    const bound = m.bind(at('bound'), (_err: unknown, _res: unknown) => {
      assert.equal(m.active().getValue(KEY), 'bound');
      throw boom;
    });
    m.with(at('caller'), () => {
      assert.throws(() => bound(null, 1), (e) => e === boom, name);
      assert.equal(m.active().getValue(KEY), 'caller', name);
    });
  }
});

test('work scheduled inside a bound function carries its context on; the caller keeps its own', async () => {
  for (const [name, m] of managers()) {
    const inside: unknown[] = [];
    const bound = m.bind(at('bound'), (done: () => void) => {
      setImmediate(() => {
        inside.push(m.active().getValue(KEY));
        done();
      });
      void Promise.resolve().then(() => inside.push(m.active().getValue(KEY)));
    });
    await m.with(at('caller'), async () => {
      await new Promise<void>((resolve) => bound(resolve));
      assert.equal(m.active().getValue(KEY), 'caller', name);
    });
    assert.deepEqual(inside, ['bound', 'bound'], name);
  }
});

test('binding the same function twice gives two wrappers, each with its own context', () => {
  for (const [name, m] of managers()) {
    const read = (_x: unknown): unknown => m.active().getValue(KEY);
    const one = m.bind(at('one'), read);
    const two = m.bind(at('two'), read);
    assert.notEqual(one, two);
    assert.deepEqual([one(0), two(0), one(0)], ['one', 'two', 'one'], name);
  }
});

test('event emitters and non-functions are bound as upstream binds them', () => {
  for (const [name, m] of managers()) {
    const ee = m.bind(at('emitter'), new EventEmitter());
    const seen: unknown[] = [];
    const listener = (): void => void seen.push(m.active().getValue(KEY));
    ee.on('x', listener);
    m.with(at('caller'), () => ee.emit('x'));
    ee.removeListener('x', listener);
    ee.emit('x');
    assert.deepEqual(seen, ['emitter'], name);
    assert.equal(ee.listenerCount('x'), 0, name);
    const plain = { a: 1 };
    assert.equal(m.bind(at('x'), plain), plain, name);
  }
});
