/**
 * Running a node process under valgrind's callgrind, shared by the instruction-count benches
 * (bench/instructions.bench.ts, bench/httpServer.bench.ts, bench/spanpath.bench.ts): start it with its output in a
 * temporary directory, zero the counters after the warm-up, dump them after the counted work, read the total.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from './throughput.bench';

/** True when `valgrind` runs here (the benches skip themselves otherwise). */
export function hasValgrind(): boolean {
  return spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface CallgrindProcess {
  readonly proc: ChildProcess;
  /** What the process wrote on stderr so far (the last 2,000 characters go into errors). */
  stderr(): string;
  /** Zeroes the counters (`callgrind_control -z`). */
  zero(): void;
  /** Dumps the counters and returns the instructions counted since the last zero. */
  dump(): number;
  /** Kills the process and removes its output. */
  close(): void;
}

/** Starts `node …nodeArgs` under callgrind with `env` (and an IPC channel). */
export function startUnderCallgrind(nodeArgs: string[], env: Record<string, string | undefined>): CallgrindProcess {
  const dir = mkdtempSync(join(tmpdir(), 'tenantscope-callgrind-'));
  const proc = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.%p')}`, process.execPath, ...nodeArgs], {
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    proc,
    stderr: () => err,
    zero: () => void spawnSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' }),
    dump: () => {
      spawnSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
      return lastSummary(dir, proc.pid!);
    },
    close: () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `summary:` line (instructions) of the newest dump written for `pid` in `dir`. */
function lastSummary(dir: string, pid: number): number {
  const dumps = readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.`))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const m = /^summary: (\d+)$/m.exec(readFileSync(dumps[0], 'utf8'));
  if (m === null) throw new Error(`no summary in ${dumps[0]}`);
  return Number(m[1]);
}

/**
 * Instructions per request of the hello-world server of bench/servers.ts under callgrind: `nodeArgs` start it (a
 * preload, then `servers.js hello`); `warmup` requests, counters zeroed, `requests` counted (4 keep-alive
 * connections, 1,000 tenants, 5,000 paths).
 */
export async function helloInstructionsPerRequest(
  name: string,
  nodeArgs: string[],
  env: Record<string, string | undefined>,
  warmup: number,
  requests: number
): Promise<number> {
  const cg = startUnderCallgrind(nodeArgs, env);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${name}: no port within 10 min\n${cg.stderr().slice(-2000)}`)), 600_000);
      cg.proc.on('message', (m: { port?: number }) => {
        if (typeof m.port === 'number') {
          clearTimeout(t);
          resolve(m.port);
        }
      });
      cg.proc.once('exit', (code) => reject(new Error(`${name}: exited ${code}\n${cg.stderr().slice(-2000)}`)));
    });
    const base = { url: `http://127.0.0.1:${port}`, connections: 4, tenants: 1000, paths: 5000, pathStyle: 'id' };
    const warm = await load({ ...base, amount: warmup });
    cg.zero();
    const r = await load({ ...base, amount: requests, offset: warm.next });
    const total = cg.dump();
    if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
    return total / requests;
  } finally {
    cg.close();
  }
}
