/**
 * Entries and settings under the preload, out of process (issue 12): `-e`, `-p`, `-i`, code on stdin, NODE_OPTIONS
 * and worker threads run as without us; OTEL_SDK_DISABLED=true registers nothing; every bad value gives exactly one
 * line naming the variable and what is used instead (a FIFO and /dev/zero as the price file included), and the app
 * runs.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REGISTER, ROOT } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` and `env` over a clean base, `input` on stdin; resolves when it exits (30 s at most). */
function run(args: string[], env: Record<string, string> = {}, input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit within 30 s\n${stdout}\n${stderr}`));
    }, 30000);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
    p.stdin.end(input);
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tenantscope-entries-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('entries under --require tenantscope/register', () => {
  const HTTP = "require('node:http');";
  const cases: [string, string[], string, string][] = [
    ['-e', ['-e', `${HTTP} console.log('eval ok')`], '', 'eval ok\n'],
    ['-p', ['-p', `${HTTP} 6 * 7`], '', '42\n'],
    ['stdin', [], `${HTTP} console.log('stdin ok')`, 'stdin ok\n'],
    ['stdin with -', ['-'], `${HTTP} console.log('dash ok')`, 'dash ok\n'],
    ['-i (REPL)', ['-i'], "console.log('repl ' + 'ok')\n.exit\n", 'repl ok'],
  ];
  for (const [name, args, input, expected] of cases) {
    it(`${name} runs the code and exits 0`, async () => {
      const r = await run(['--require', REGISTER, ...args], {}, input);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      assert.ok(r.stdout.includes(expected), r.stdout);
    });
  }

  it('-e with the preload in NODE_OPTIONS (a machine-wide preload), and with OTEL_SDK_DISABLED=true', async () => {
    for (const extra of [{}, { OTEL_SDK_DISABLED: 'true' }] as Record<string, string>[]) {
      const r = await run(['-e', "console.log('options ok')"], { NODE_OPTIONS: `--require ${REGISTER}`, ...extra });
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'options ok\n', '']);
    }
  });

  it('OTEL_SDK_DISABLED=true registers nothing at all: no module hook, no provider, no listener', async () => {
    const probe = [
      `const { trace } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});`,
      "const provider = trace.getTracerProvider().constructor.name;",
      "const hooks = process.listenerCount('beforeExit') + process.listenerCount('newListener');",
      "console.log(JSON.stringify({ provider, hooks, instance: globalThis[Symbol.for('tenantscope.instance')] === undefined }));",
    ].join('\n');
    const file = join(dir, 'probe.js');
    writeFileSync(file, probe);
    const bare = await run([file]);
    const r = await run(['--require', REGISTER, file], { OTEL_SDK_DISABLED: 'true' });
    assert.equal(r.stderr, '');
    // Exactly what the process has without the preload.
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(bare.stdout));
    assert.equal(JSON.parse(r.stdout).provider, 'ProxyTracerProvider');
    // And the preload does register when enabled (the probe can tell).
    const on = await run(['--require', REGISTER, file]);
    assert.notDeepEqual(JSON.parse(on.stdout), JSON.parse(bare.stdout));
  });

  it('a worker thread (from a file entry, eval and file workers) runs under the preload', async () => {
    const worker = join(dir, 'worker.js');
    writeFileSync(worker, "require('node:http'); require('node:worker_threads').parentPort.postMessage('file worker ok');");
    const main = join(dir, 'main.mjs');
    writeFileSync(
      main,
      [
        "import { Worker } from 'node:worker_threads';",
        'const say = (w) => new Promise((r) => w.once(\'message\', (m) => { console.log(m); r(); }));',
        "await say(new Worker(\"require('node:http'); require('node:worker_threads').parentPort.postMessage('eval worker ok')\", { eval: true }));",
        `await say(new Worker(${JSON.stringify(worker)}));`,
      ].join('\n')
    );
    for (const flag of ['--require', '--import']) {
      const r = await run([flag, REGISTER, main]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'eval worker ok\nfile worker ok\n', ''], flag);
    }
  });
});

describe('bad values: one line each, naming the variable and what is used', () => {
  let receiver: OtlpReceiver;
  let fifo: string;
  before(async () => {
    receiver = await startOtlpReceiver();
    fifo = join(dir, 'prices.fifo');
    const mk = spawnSync('mkfifo', [fifo]);
    assert.equal(mk.status, 0, 'mkfifo');
    mkdirSync(join(dir, 'prices.d'));
  });
  after(async () => {
    await receiver?.close();
  });

  const cases: [string, string, RegExp][] = [
    ['OTEL_LOG_LEVEL', 'loud', /^tenantscope: OTEL_LOG_LEVEL="loud" is not one of none, error, warn, info, debug, verbose, all; using "info"$/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not-a-url', /^tenantscope: OTEL_EXPORTER_OTLP_ENDPOINT="not-a-url" is not an http\(s\) URL; using "http:\/\/localhost:4318"$/],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'collector:4318', /^tenantscope: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="collector:4318" is not an http\(s\) URL; using "http:\/\/127\.0\.0\.1:\d+\/v1\/traces"$/],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', 'soon', /^tenantscope: OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not a whole number from 1 to 600000; using 10000$/],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zip', /^tenantscope: OTEL_EXPORTER_OTLP_COMPRESSION="zip" is not one of gzip, none; using "none"$/],
    // With a Collector endpoint set, logs ship over OTLP too (issue 13): the logs exporter's own variables count.
    ['OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', 'br', /^tenantscope: OTEL_EXPORTER_OTLP_LOGS_COMPRESSION="br" is not one of gzip, none; using "none"$/],
    ['OTEL_EXPORTER_OTLP_CERTIFICATE', '/nonexistent/ca.pem', /^tenantscope: OTEL_EXPORTER_OTLP_CERTIFICATE="\/nonexistent\/ca\.pem" is not a readable file; the OTLP exporter goes without it$/],
    ['TENANTSCOPE_SHUTDOWN_TIMEOUT_MS', 'soon', /^tenantscope: TENANTSCOPE_SHUTDOWN_TIMEOUT_MS="soon" is not a whole number from 0 to 600000; using 5000$/],
    ['TENANTSCOPE_MAX_SERIES', '10', /^tenantscope: TENANTSCOPE_MAX_SERIES="10" is not a whole number from 100 to 10000000; using 20000$/],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'authorization=Bearer s3cret,garbage', /^tenantscope: OTEL_EXPORTER_OTLP_HEADERS: entry 2 not "key=value" \(values are not shown\); those entries are skipped$/],
    ['OTEL_RESOURCE_ATTRIBUTES', 'team=chat,=bad', /^tenantscope: OTEL_RESOURCE_ATTRIBUTES: "=bad" is not key=value \(percent-encoded, at most 255 characters each\); the whole variable is ignored$/],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '5000', /^tenantscope: OTEL_BSP_MAX_EXPORT_BATCH_SIZE="5000" is more than OTEL_BSP_MAX_QUEUE_SIZE; using 2048$/],
    // Issue 10 replaced the shipped price table with @pydantic/genai-prices' data: the line names it and its version.
    ['TENANTSCOPE_PRICES_FILE', '<fifo>', /^tenantscope: TENANTSCOPE_PRICES_FILE \S+prices\.fifo: is not a regular file \(a FIFO\); not read; using the @pydantic\/genai-prices \S+ prices alone$/],
    ['TENANTSCOPE_PRICES_FILE', '/dev/zero', /^tenantscope: TENANTSCOPE_PRICES_FILE \/dev\/zero: is not a regular file \(a character device\); not read; using the @pydantic\/genai-prices \S+ prices alone$/],
    ['TENANTSCOPE_PRICES_FILE', '<dir>', /^tenantscope: TENANTSCOPE_PRICES_FILE \S+prices\.d: is not a regular file \(a directory\); not read; using the @pydantic\/genai-prices \S+ prices alone$/],
  ];
  for (const [name, value, expected] of cases) {
    it(`${name}=${value}: one line, and the app runs`, async () => {
      const v = value === '<fifo>' ? fifo : value === '<dir>' ? join(dir, 'prices.d') : value;
      const r = await run(['--require', REGISTER, '-e', "require('node:http'); console.log('started')"], {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: name === 'OTEL_EXPORTER_OTLP_ENDPOINT' ? v : receiver.endpoint,
        [name]: v,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'started\n');
      const out = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(out.length, 1, r.stderr);
      assert.match(out[0], expected);
    });
  }
});
