/**
 * scripts/bundle.ts: the lazy stand-ins it puts in the bundle for modules a bundled package requires at load but
 * uses later (LAZY), checked on the real module: nothing loaded until an export is read, then the module's own
 * exports; and the bundle the build wrote has each stand-in in place of the module.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LAZY, lazyModuleSource } from '../../scripts/bundle';
import { ROOT } from '../helpers/fixture';

describe('bundle: lazy stand-ins', () => {
  for (const [spec, owner] of Object.entries(LAZY)) {
    it(`${spec}: loaded at the first read of an export, from where ${owner} finds it`, () => {
      // Beside the package's node_modules, as the bundle is.
      const file = join(ROOT, 'build', `lazy-stand-in-${process.pid}.js`);
      writeFileSync(file, lazyModuleSource(spec, owner));
      try {
        const real = require.resolve(spec, { paths: [require.resolve(owner)] });
        delete require.cache[real];
        const cached = (): NodeJS.Module | undefined => require.cache[real];
        const standIn = require(file) as Record<string, unknown>;
        assert.equal(cached(), undefined);
        const keys = Object.keys(standIn);
        const loaded = cached();
        assert.ok(loaded !== undefined);
        const exports = loaded.exports as Record<string, unknown>;
        assert.ok(keys.length > 0);
        assert.deepEqual(keys, Object.keys(exports));
        for (const key of keys) assert.equal(standIn[key], exports[key], key);
      } finally {
        rmSync(file);
      }
    });
  }

  it('the built bundle holds each stand-in in place of its module', () => {
    const bundle = readFileSync(join(ROOT, 'build', 'tenantscope.js'), 'utf8');
    for (const spec of Object.keys(LAZY)) {
      assert.ok(bundle.includes(`"lazy:${spec}"`), `stand-in for ${spec}`);
      assert.ok(!bundle.includes(`${spec.replace(/\.js$/, '')}.js":`), `${spec} itself is not bundled`);
    }
  });
});
