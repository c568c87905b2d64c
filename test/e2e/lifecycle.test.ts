/**
 * How the preload starts and ends with the host process, out of process: flush at natural exit without touching the
 * exit code, SIGTERM behaviour with and without the app's own handler, bad settings, a busy Prometheus port, and a
 * Node version too old for the SDK. Each case asserts what the app does and exactly what we print.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';

const SERVER = 2;
const CLIENT = 3;
const OLD_NODE = '/usr/bin/node';

/** Exporters that would only send on a flush: a minute of schedule delay and export interval. */
function flushOnlyEnv(receiver: OtlpReceiver): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '60000',
    OTEL_METRIC_EXPORT_INTERVAL: '60000',
    OTEL_METRICS_EXPORTER: 'otlp',
  };
}

async function get(app: RunningFixture, tenant?: string): Promise<[number, string]> {
  const res = await fetch(`http://127.0.0.1:${app.port}/hello`, { headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } });
  return [res.status, await res.text()];
}

/** Non-empty stderr lines. */
function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Fails if `port` on 127.0.0.1 accepts a connection. */
async function assertClosed(port: number): Promise<void> {
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), /fetch failed/);
}

describe('a script that ends by itself', () => {
  it('exports its spans and metrics at exit (beforeExit flush) and keeps process.exitCode = 3', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const script = await startFixture('short-script.js', { waitForListening: false, env: flushOnlyEnv(receiver) });
      const exit = await Promise.race([
        script.exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('short-script.js did not exit within 15 s')), 15000)),
      ]);
      assert.deepEqual(exit, { code: 3, signal: null });
      assert.equal(script.stderr(), '');
      // Everything arrived before the process ended: no waiting here.
      assert.deepEqual(receiver.errors, []);
      const server = receiver.spans.filter((s) => s.kind === SERVER);
      assert.deepEqual(
        server.map((s) => [s.name, s.attributes['tenant.id']]),
        [
          ['GET', 'acme'],
          ['GET', 'acme'],
          ['GET', 'acme'],
        ]
      );
      assert.equal(receiver.spans.filter((s) => s.kind === CLIENT).length, 3);
      const requests = receiver.latest('http_requests');
      assert.deepEqual(
        requests?.dataPoints.map((p) => [p.attributes.tenant_id, p.attributes.endpoint, p.attributes.status, p.value]),
        [['acme', '/work', '200', 3]]
      );
    } finally {
      await receiver.close();
    }
  });
});

describe('SIGTERM', () => {
  it('an app without a SIGTERM handler dies by SIGTERM, exactly as without the preload', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const results: unknown[] = [];
      for (const preload of ['none', 'require'] as const) {
        const app = await startFixture('idle-server.js', { preload, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_METRICS_EXPORTER: 'none' } });
        assert.deepEqual(await get(app, 'acme'), [200, 'ok']);
        results.push({ preload, exit: await app.stop('SIGTERM'), stderr: app.stderr() });
      }
      assert.deepEqual(results, [
        { preload: 'none', exit: { code: null, signal: 'SIGTERM' }, stderr: '' },
        { preload: 'require', exit: { code: null, signal: 'SIGTERM' }, stderr: '' },
      ]);
    } finally {
      await receiver.close();
    }
  });

  for (const mode of ['natural', 'exit'] as const) {
    it(`an app with its own SIGTERM handler (${mode === 'natural' ? 'sets exitCode and lets the loop end' : 'calls process.exit after a grace period'}) runs it, our flush exports its spans, and it exits with its code 7`, async () => {
      const receiver = await startOtlpReceiver();
      try {
        const app = await startFixture('graceful-server.js', { env: { ...flushOnlyEnv(receiver), EXIT_MODE: mode } });
        assert.deepEqual(await get(app, 'acme'), [200, 'ok']);
        assert.deepEqual(await get(app, 'globex'), [200, 'ok']);
        // A minute of schedule delay: nothing has been sent yet.
        assert.equal(receiver.spans.length, 0);
        const exit = await app.stop('SIGTERM');
        assert.deepEqual(exit, { code: 7, signal: null });
        assert.deepEqual(lines(app.stdout()).slice(1), ['HANDLER']);
        assert.equal(app.stderr(), '');
        assert.deepEqual(
          receiver.spans.filter((s) => s.kind === SERVER).map((s) => s.attributes['tenant.id']),
          ['acme', 'globex']
        );
        if (mode === 'natural') {
          // The process ended through beforeExit: the final metrics export went out too.
          const requests = receiver.latest('http_requests');
          assert.deepEqual(
            requests?.dataPoints.map((p) => [p.attributes.tenant_id, p.value]),
            [
              ['acme', 1],
              ['globex', 1],
            ]
          );
        }
      } finally {
        await receiver.close();
      }
    });
  }
});

describe('bad settings', () => {
  const cases: [string, string, Record<string, string>][] = [
    ['TENANTSCOPE_MAX_TENANTS', 'abc', {}],
    ['OTEL_TRACES_EXPORTER', 'bogus', {}],
    // Metrics go to OTLP here, so the default port 9464 (maybe taken on a shared machine) is not bound.
    ['OTEL_EXPORTER_PROMETHEUS_PORT', '99999', { OTEL_METRICS_EXPORTER: 'otlp' }],
  ];
  for (const [name, value, extra] of cases) {
    it(`${name}=${value} gives exactly one log line naming the variable, and the app starts and serves`, async () => {
      const receiver = await startOtlpReceiver();
      try {
        const app = await startFixture('idle-server.js', {
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_METRICS_EXPORTER: 'none', ...extra, [name]: value },
        });
        assert.deepEqual(await get(app, 'acme'), [200, 'ok']);
        await app.stop();
        const out = lines(app.stderr());
        assert.equal(out.length, 1, app.stderr());
        assert.ok(out[0].startsWith(`tenantscope: ${name}="${value}"`), out[0]);
      } finally {
        await receiver.close();
      }
    });
  }

  it('a Prometheus port already in use gives one log line and the app runs', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const app = await startFixture('idle-server.js', {
        env: { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
      });
      assert.deepEqual(await get(app, 'acme'), [200, 'ok']);
      assert.deepEqual(await get(app, 'globex'), [200, 'ok']);
      const exit = await app.stop();
      assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
      const out = lines(app.stderr());
      assert.equal(out.length, 1, app.stderr());
      assert.match(out[0], new RegExp(`^tenantscope: Prometheus endpoint could not listen on 127\\.0\\.0\\.1:${port}; /metrics is off: Error: listen EADDRINUSE`));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('a Node version older than the SDK supports', () => {
  const skip = existsSync(OLD_NODE) ? false : `${OLD_NODE} is not installed on this machine`;
  for (const preload of ['require', 'import'] as const) {
    it(`under ${OLD_NODE} with --${preload}: one log line, the app runs uninstrumented`, { skip }, async () => {
      const { spawnSync } = await import('node:child_process');
      const version = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
      const [major, minor] = version.slice(1).split('.').map(Number);
      if (major > 22 || (major === 22 && minor >= 15)) {
        assert.fail(`${OLD_NODE} is ${version}, new enough for the SDK: this case needs an older Node`);
      }
      const receiver = await startOtlpReceiver();
      const promPort = await freePort();
      try {
        const app = await startFixture('idle-server.js', {
          node: OLD_NODE,
          preload,
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY: '100',
            OTEL_METRICS_EXPORTER: 'prometheus',
            OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
            OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
          },
        });
        assert.deepEqual(await get(app, 'acme'), [200, 'ok']);
        await assertClosed(promPort);
        await new Promise((res) => setTimeout(res, 500));
        const exit = await app.stop();
        assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
        assert.deepEqual(lines(app.stderr()), [
          `tenantscope: Node.js ${version.slice(1)} is older than the supported >=22.15.0; instrumentation is off and the app runs without it.`,
        ]);
        assert.deepEqual(receiver.requests, []);
      } finally {
        await receiver.close();
      }
    });
  }
});
