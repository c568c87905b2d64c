/**
 * The servers the throughput, start-up and memory benches measure, run as child processes under each preload:
 * `node [--require PRELOAD] build/bench/servers.js hello|pgredis|empty`. This file imports no OpenTelemetry package
 * (a plain run must load nothing but the app), and requires pg and ioredis only in `pgredis`, after the preload
 * ran, so the instrumentations can patch them.
 *
 * - `hello`: a hello-world `node:http` server.
 * - `pgredis`: every request runs one PostgreSQL query and one Redis GET (TEST_PG_URL, TEST_REDIS_URL).
 * - `empty`: does nothing; on exit writes `{maxRssKiB, cpuMs, lifeMs}` to stdout, for the start-up bench.
 *
 * A server listens on 127.0.0.1, port 0, and talks to the bench over IPC: it sends `{port}` once listening and
 * answers `cpu` (`process.cpuUsage()` since the last `cpu`), `mem` (RSS and heap after a collection when
 * `--expose-gc` is on) and `exit`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function hello(): Handler {
  return (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('hello world');
  };
}

function pgRedis(): { handler: Handler; close(): void } {
  const { Pool } = require('pg') as typeof import('pg');
  const Redis = require('ioredis') as typeof import('ioredis').default;
  const pool = new Pool({ connectionString: process.env.TEST_PG_URL, max: 8 });
  const redis = new Redis(process.env.TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
  const handler: Handler = (req, res) => {
    const id = Number((req.url ?? '').slice((req.url ?? '').lastIndexOf('/') + 1)) | 0;
    pool
      .query('SELECT $1::int AS n', [id])
      .then((r) => redis.get(`bench:conv:${r.rows[0].n as number}`))
      .then((cached) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id, cached }));
      })
      .catch((err: Error) => {
        res.statusCode = 500;
        res.end(err.message);
      });
  };
  return {
    handler,
    close() {
      void pool.end();
      void redis.quit();
    },
  };
}

function serve(mode: string): void {
  let handler: Handler;
  let close = (): void => undefined;
  if (mode === 'pgredis') {
    const s = pgRedis();
    handler = s.handler;
    close = s.close;
  } else handler = hello();
  // Required here, not at the top: the `empty` mode loads nothing at all.
  const { createServer } = require('node:http') as typeof import('node:http');
  const server = createServer(handler);
  let last = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const d = process.cpuUsage(last);
      last = process.cpuUsage();
      process.send!({ cpuMicros: d.user + d.system });
    } else if (m === 'mem') {
      const g = (globalThis as { gc?: () => void }).gc;
      if (g !== undefined) g();
      const mu = process.memoryUsage();
      const v8 = require('node:v8') as typeof import('node:v8');
      const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.send!({
        rss: mu.rss,
        heapUsed: mu.heapUsed,
        heapTotal: mu.heapTotal,
        youngCommitted: young?.space_size ?? 0,
        external: mu.external,
        maxRssKiB: process.resourceUsage().maxRSS,
      });
    } else if (m === 'exit') {
      // Let go of everything, so the process ends by itself (and writes a --cpu-prof profile).
      server.close();
      server.closeAllConnections();
      close();
      process.disconnect();
    }
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

const mode = process.argv[2] ?? 'hello';
if (mode === 'empty') {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    // performance.now() counts from the process's start: the whole life of `node [-r preload] empty.js`.
    const lifeMs = (globalThis as { performance: { now(): number } }).performance.now();
    process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, cpuMs: (cpu.user + cpu.system) / 1000, lifeMs }) + '\n');
  });
} else serve(mode);
