/**
 * The bundle (scripts/bundle.ts): the preload and `require('tenantscope')` load one file, build/tenantscope.js, with
 * the SDK inside and the peer `@opentelemetry/api` outside (the app's copy). Out of process under register.js, every
 * signal on: what is in `require.cache` at start and after the app uses the API, and that a span made through the
 * API by name carries its tenant.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, startFixture } from '../helpers/fixture';
import { startOtlpReceiver } from '../helpers/otlpReceiver';

// import-in-the-middle's CommonJS `Hook` API (and its one dependency), which @opentelemetry/instrumentation loads;
// its ES module hooks wait for the app's first import (src/register.ts).
const AT_START = ['@opentelemetry/api', 'build/tenantscope.js', 'import-in-the-middle', 'module-details-from-path', 'register.js'];

describe('the bundled preload', () => {
  it('loads build/tenantscope.js, the peer @opentelemetry/api and nothing else of the SDK; require("tenantscope") is the same module', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const app = await startFixture('bundle-app.js', {
        waitForListening: false,
        env: {
          OTEL_SERVICE_NAME: 'bundle-app',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_LOGS_EXPORTER: 'otlp',
          OTEL_TRACES_SAMPLER: 'always_on',
        },
      });
      assert.deepEqual(await app.exited, { code: 0, signal: null }, app.stderr());
      assert.equal(app.stderr(), '');
      const lines = Object.fromEntries(
        app
          .stdout()
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)])
      );
      assert.deepEqual(JSON.parse(lines.START), AT_START);
      // The API is the bundle already loaded: no second copy of tenantscope or the SDK.
      assert.deepEqual(JSON.parse(lines.AFTER), AT_START);
      assert.equal(lines.SAME, 'true');
      assert.deepEqual(
        receiver.spans.map((s) => [s.name, s.attributes['tenant.id']]),
        [['bundled work', 'globex']]
      );
    } finally {
      await receiver.close();
    }
  });

  it('an ES module imports every export of the API by name (Node reads the names from the bundle)', async () => {
    const app = await startFixture('esm-api.mjs', {
      preload: 'import',
      waitForListening: false,
      env: { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
    });
    assert.deepEqual(await app.exited, { code: 0, signal: null }, app.stderr());
    assert.equal(app.stderr(), '');
    const index = require(join(ROOT, 'build', 'src', 'index.js')) as Record<string, unknown>;
    const names = Object.keys(index).filter((n) => n !== '__esModule');
    assert.equal(names.length, 14);
    // Node adds `default` and `module.exports` (the whole CommonJS exports) to a CommonJS module's namespace, and
    // `__esModule`, which tsc's output defines.
    assert.equal(app.stdout(), `NAMES ${JSON.stringify([...names, '__esModule', 'default', 'module.exports'].sort())}\nTENANT globex\n`);
  });

  it('package.json points the API and the types where the build writes them', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      exports: Record<string, { types: string; default: string } | string>;
      files: string[];
    };
    assert.equal(pkg.main, 'build/tenantscope.js');
    assert.deepEqual(pkg.exports['.'], { types: './build/src/index.d.ts', default: './build/tenantscope.js' });
    assert.ok(pkg.files.includes('build/tenantscope.js'));
    // The bundle's exports are the API's (src/index.ts), nothing more.
    const bundle = require(join(ROOT, 'build', 'tenantscope.js')) as Record<string, unknown>;
    const index = require(join(ROOT, 'build', 'src', 'index.js')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(bundle).sort(), Object.keys(index).sort());
  });
});
