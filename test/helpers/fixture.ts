/**
 * Runs an app out of process under the preload, as a user would: `node --require ./register.js app.js`
 * (or `--import` for ESM), and waits for the line `LISTENING <port>` the fixture prints when ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const REGISTER = join(ROOT, 'register.js');
/**
 * The preload's code before bundling (tsc's output, which the bundle build/tenantscope.js is made of): for tests that
 * watch which packages load when, through `require.cache`, where the bundle's modules do not appear.
 */
export const UNBUNDLED_REGISTER = join(ROOT, 'build', 'src', 'register.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface RunningFixture {
  readonly proc: ChildProcess;
  /** Port the app printed in its `LISTENING <port>` line. */
  readonly port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with exit code and signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface FixtureOptions {
  /** Extra environment; merged over a clean base (PATH, HOME, TEST_* urls). */
  env?: Record<string, string | undefined>;
  /** `require` (default) or `import`. */
  preload?: 'require' | 'import' | 'none';
  /** The preload file; default REGISTER (register.js). */
  register?: string;
  /** Node binary; defaults to the one running the tests. */
  node?: string;
  /** Wait for `LISTENING <port>`; false for scripts that just run and exit. */
  waitForListening?: boolean;
  timeoutMs?: number;
}

/** Starts `file` (relative to test/fixtures, or absolute) under the preload. */
export function startFixture(file: string, options: FixtureOptions = {}): Promise<RunningFixture> {
  const script = file.startsWith('/') ? file : join(FIXTURES, file);
  const preload = options.preload ?? 'require';
  const args = preload === 'none' ? [script] : [preload === 'require' ? '--require' : '--import', options.register ?? REGISTER, script];
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEST_PG_URL: process.env.TEST_PG_URL,
    TEST_REDIS_URL: process.env.TEST_REDIS_URL,
    TEST_AMQP_URL: process.env.TEST_AMQP_URL,
    MONGODB_URL: process.env.MONGODB_URL,
  };
  const proc = spawn(options.node ?? process.execPath, args, {
    env: { ...base, ...options.env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal }))
  );
  const fixture = (port: number): RunningFixture => ({
    proc,
    port,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  });
  if (options.waitForListening === false) return Promise.resolve(fixture(0));
  const timeoutMs = options.timeoutMs ?? 20000;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`fixture ${file} did not print LISTENING within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolvePromise(fixture(Number(m[1])));
      }
    };
    proc.stdout!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`fixture ${file} exited (code ${code}, signal ${signal}) before LISTENING\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** Fetches the fixture's `/metrics` (Prometheus exporter) as text. */
export async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}

/** Parses Prometheus text into samples: name, labels, value. */
export function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm: RegExpExecArray | null;
      while ((lm = re.exec(m[2])) !== null) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(samples: ReturnType<typeof parseMetrics>, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
