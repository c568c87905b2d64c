/**
 * Real PostgreSQL, Redis and RabbitMQ for tests and the demo: the machine's own servers when they answer on their
 * standard ports, otherwise throwaway instances started from the installed binaries on free ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Services {
  pgUrl: string;
  redisUrl: string;
  /** Undefined when no broker answers and `rabbitmq-server` is not installed (`.ci/run` installs it). */
  amqpUrl: string | undefined;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitForPort(port: number, what: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start listening on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

async function redisAnswers(port: number): Promise<boolean> {
  if (!(await canConnect(port))) return false;
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    sock.write('PING\r\n');
  });
}

async function pgAnswers(url: string): Promise<boolean> {
  const { Client } = require('pg') as typeof import('pg');
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return join(root, versions[0], 'bin');
}

export async function startThrowawayPg(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantscope-pg-'));
  const port = await freePort();
  const bin = pgBinDir();
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: run it as the postgres user when we are root.
  if (asRoot) chownSync(dir, 101, 104);
  const run = (cmd: string, args: string[]): ReturnType<typeof spawnSync> =>
    asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  const data = join(dir, 'data');
  const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const proc: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', join(bin, 'postgres'), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { stdio: 'ignore' })
    : spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { stdio: 'ignore' });
  await waitForPort(port, 'postgres');
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let i = 0; i < 50 && !(await pgAnswers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    url,
    stop: async () => {
      // runuser does not forward signals: stop the server itself, then wait for the wrapper.
      const exited = new Promise((r) => proc.once('exit', r));
      run(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startThrowawayRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitForPort(port, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

/** The machine's RabbitMQ (Debian's defaults: guest/guest, only from loopback). */
export const MACHINE_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** True when an AMQP handshake with `url` succeeds within a second or two. */
export async function amqpAnswers(url: string): Promise<boolean> {
  const port = Number(new URL(url).port || 5672);
  if (!(await canConnect(port))) return false;
  const amqp = require('amqplib') as typeof import('amqplib');
  try {
    const conn = await amqp.connect(url, { timeout: 2000 });
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

/** True when a throwaway RabbitMQ can be started here. */
export function rabbitAvailable(): boolean {
  return existsSync(RABBITMQ_SERVER);
}

/**
 * A throwaway RabbitMQ node on free ports (AMQP and Erlang distribution), its own node name, data, logs and cookie
 * in a temporary directory, no plugins. Erlang needs a while: about 12 s on a busy 2-core machine.
 */
export async function startThrowawayRabbit(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantscope-rabbit-'));
  const port = await freePort();
  const distPort = await freePort();
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const asRoot = process.getuid?.() === 0;
  // RabbitMQ runs as its own user when we are root (as Debian's service does): it must own the directory.
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'rabbitmq'], { encoding: 'utf8' });
    const uid = Number(id.stdout);
    chownSync(dir, uid, Number(gid.stdout));
    chownSync(join(dir, 'enabled_plugins'), uid, Number(gid.stdout));
  }
  const env = {
    PATH: process.env.PATH,
    HOME: dir, // the Erlang cookie goes here
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_NODENAME: `tenantscope${process.pid}x${port}@localhost`,
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'none'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'none-advanced.config'),
  };
  // Its own process group: runuser, the script and the Erlang VM stop together.
  const proc = asRoot
    ? spawn('runuser', ['-u', 'rabbitmq', '--', RABBITMQ_SERVER], { env, stdio: 'ignore', detached: true, cwd: dir })
    : spawn(RABBITMQ_SERVER, [], { env, stdio: 'ignore', detached: true, cwd: dir });
  const exited = new Promise((r) => proc.once('exit', r));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-(proc.pid as number), 'SIGTERM');
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-(proc.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  try {
    await waitForPort(port, 'rabbitmq-server', 60_000);
    for (let i = 0; i < 50 && !(await amqpAnswers(url)); i++) await new Promise((r) => setTimeout(r, 200));
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

/**
 * Uses `TEST_PG_URL` / `TEST_REDIS_URL` / `TEST_AMQP_URL` when set, else the machine's servers on 5432/6379/5672, else throwaway ones.
 */
export async function startServices(): Promise<Services> {
  const stops: (() => Promise<void>)[] = [];
  let pgUrl = process.env.TEST_PG_URL;
  if (pgUrl === undefined) {
    const machine = 'postgres://postgres@127.0.0.1:5432/postgres';
    if (await pgAnswers(machine)) pgUrl = machine;
    else {
      const pg = await startThrowawayPg();
      stops.push(pg.stop);
      pgUrl = pg.url;
    }
  }
  let redisUrl = process.env.TEST_REDIS_URL;
  if (redisUrl === undefined) {
    if (await redisAnswers(6379)) redisUrl = 'redis://127.0.0.1:6379';
    else {
      const r = await startThrowawayRedis();
      stops.push(r.stop);
      redisUrl = r.url;
    }
  }
  let amqpUrl = process.env.TEST_AMQP_URL;
  if (amqpUrl === undefined) {
    if (await amqpAnswers(MACHINE_AMQP_URL)) amqpUrl = MACHINE_AMQP_URL;
    else if (rabbitAvailable()) {
      const r = await startThrowawayRabbit();
      stops.push(r.stop);
      amqpUrl = r.url;
    }
  }
  return {
    pgUrl,
    redisUrl,
    amqpUrl,
    stop: async () => {
      for (const s of stops) await s().catch(() => undefined);
    },
  };
}
