/**
 * scripts/bundle.ts: the lazy stand-ins it puts in the bundle for modules a bundled package requires at load but
 * uses later (LAZY), checked on the real module: nothing loaded until an export is read, then the module's own
 * exports; and the bundle the build wrote has each stand-in in place of the module. The semantic-conventions shim:
 * the constants the bundled code names with the package's values, any other export from the installed package at
 * its first read, and no semantic-conventions file loaded by the bundle at start. No `node:crypto` at start either
 * (only a tenant hash key needs it).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { execFile, execFileSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import { LAZY, SEMCONV, lazyModuleSource, semconvNamesUsed, semconvShimSource } from '../../scripts/bundle';
import { ROOT } from '../helpers/fixture';
import { startOtlpReceiver } from '../helpers/otlpReceiver';

describe('bundle: lazy stand-ins', () => {
  for (const [spec, owner] of Object.entries(LAZY)) {
    if (isBuiltin(spec)) {
      // A builtin is in no require.cache: a fresh process tells whether Node loaded it, by its own module list.
      it(`${spec} (Node's): loaded at the first read of an export`, () => {
        // A script file, not `-e`: Node's eval entry loads crypto itself.
        const file = join(ROOT, 'build', `lazy-stand-in-${process.pid}.js`);
        const script = join(ROOT, 'build', `lazy-check-${process.pid}.js`);
        writeFileSync(file, lazyModuleSource(spec, owner));
        try {
          writeFileSync(
            script,
            `const has = () => process.moduleLoadList.includes(${JSON.stringify(`NativeModule ${spec}`)});
               const standIn = require(${JSON.stringify(file)});
               const before = has();
               const keys = Object.keys(standIn);
               const real = require(${JSON.stringify(spec)});
               const same = keys.length > 0 && keys.every((k) => standIn[k] === real[k]) && keys.length === Object.keys(real).length;
               process.stdout.write(JSON.stringify({ before, after: has(), same, uuid: typeof standIn.randomUUID }));`
          );
          const out = execFileSync(process.execPath, [script], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
          assert.deepEqual(JSON.parse(out), { before: false, after: true, same: true, uuid: 'function' });
        } finally {
          rmSync(file);
          rmSync(script, { force: true });
        }
      });
      continue;
    }
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

describe('bundle: the semantic-conventions shim', () => {
  const real = require(SEMCONV) as Record<string, unknown>;
  const all = Object.keys(real);

  it('keeps the export names a source mentions as identifiers, and nothing else', () => {
    const used = semconvNamesUsed(
      [
        'const x = (0, semconv_1.ATTR_HTTP_REQUEST_METHOD); attributes[import_semconv.ATTR_URL_PATH] = p;',
        "const { ATTR_SERVER_PORT: port } = require('@opentelemetry/semantic-conventions'); // ATTR_URL_PATH again",
        'const notOne = "ATTR_HTTP_ROUTEX"; const ATTR_HTTP_ROUTE_X = 1;',
      ],
      all
    );
    assert.deepEqual(used, ['ATTR_HTTP_REQUEST_METHOD', 'ATTR_SERVER_PORT', 'ATTR_URL_PATH']);
  });

  it('gives the kept constants as own properties, any other export from the package at its first read', () => {
    const kept = ['ATTR_HTTP_REQUEST_METHOD', 'ATTR_SERVICE_NAME', 'METRIC_HTTP_SERVER_REQUEST_DURATION'];
    const file = join(ROOT, 'build', `semconv-shim-${process.pid}.js`);
    writeFileSync(file, semconvShimSource(real, kept));
    const realFile = require.resolve(SEMCONV);
    const cachedReal = require.cache[realFile];
    delete require.cache[realFile];
    try {
      const shim = require(file) as Record<string, unknown>;
      assert.deepEqual(Object.keys(shim), kept);
      for (const n of kept) assert.equal(shim[n], real[n], n);
      // Interop probes are not export names: answered without loading the package.
      assert.equal(shim.__esModule, undefined);
      assert.equal(shim.default, undefined);
      assert.equal('default' in shim, false);
      assert.equal(require.cache[realFile], undefined, 'not loaded by the kept names or the probes');
      // A name the scan did not keep: the installed package's value.
      assert.equal(shim.ATTR_URL_SCHEME, real.ATTR_URL_SCHEME);
      assert.equal('ATTR_URL_SCHEME' in shim, true);
      assert.ok(require.cache[realFile] !== undefined, 'loaded at the first read of a name not kept');
      assert.equal(Object.prototype.toString.call(shim), '[object Module]');
    } finally {
      rmSync(file);
      if (cachedReal !== undefined) require.cache[realFile] = cachedReal;
    }
  });

  it('refuses a kept export that is not a constant', () => {
    assert.throws(() => semconvShimSource({ ...real, SOME_MAP: { a: 'a' } }, ['SOME_MAP']), /SOME_MAP is a object, not a constant/);
  });

  it('the built bundle loads no semantic-conventions file at start (span attribute names are checked end to end elsewhere)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(join(ROOT, 'register.js'))});
         const loaded = Object.keys(require.cache).filter((f) => f.includes('semantic-conventions'));
         process.stdout.write(JSON.stringify({ loaded }));`,
      ],
      { env: { PATH: process.env.PATH, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' }, encoding: 'utf8' }
    );
    assert.deepEqual(JSON.parse(out), { loaded: [] });
    const bundle = readFileSync(join(ROOT, 'build', 'tenantscope.js'), 'utf8');
    assert.ok(!bundle.includes('createConstMap'), 'the deprecated attribute maps (built by createConstMap) are not bundled');
  });

});

describe('bundle: what a start loads', () => {
  it('the preload with every signal on loads no node:crypto at start; a tenant hash key loads it at the first hashed id', async () => {
    // A script file, not `-e`: Node's eval entry loads crypto itself. Traces and logs go to a real OTLP receiver.
    const receiver = await startOtlpReceiver();
    const script = join(ROOT, 'build', `crypto-check-${process.pid}.js`);
    writeFileSync(
      script,
      `const has = () => process.moduleLoadList.includes('NativeModule crypto');
       const atStart = has();
       const { withTenant } = require(${JSON.stringify(join(ROOT, 'build', 'tenantscope.js'))});
       withTenant('acme', () => require('@opentelemetry/api').trace.getTracer('t').startSpan('s').end());
       setTimeout(() => process.stdout.write(JSON.stringify({ atStart, afterHash: has() })), 50);`
    );
    const run = async (extra: Record<string, string>): Promise<unknown> => {
      const { stdout } = await promisify(execFile)(process.execPath, ['-r', join(ROOT, 'register.js'), script], {
        env: {
          PATH: process.env.PATH,
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_METRICS_EXPORTER: 'prometheus',
          OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
          OTEL_EXPORTER_PROMETHEUS_PORT: '0',
          OTEL_LOGS_EXPORTER: 'otlp',
          ...extra,
        },
        cwd: ROOT,
        timeout: 30_000,
      });
      return JSON.parse(stdout);
    };
    try {
      assert.deepEqual(await run({}), { atStart: false, afterHash: false });
      assert.deepEqual(await run({ TENANTSCOPE_TENANT_HASH_KEY: 'a-key-of-at-least-sixteen-chars' }), { atStart: false, afterHash: true });
    } finally {
      rmSync(script, { force: true });
      await receiver.close();
    }
  });
});
