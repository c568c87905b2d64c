/**
 * The load generator of the throughput and memory benches, in its own process so it can be pinned to a core of
 * its own: `node build/bench/loadgen.js '<json options>'`. Runs autocannon (keep-alive connections, no
 * pipelining) against one server and prints one JSON line with what it measured.
 *
 * Each request carries an `x-tenant-id` header and a path drawn from the options:
 * - `tenants`: how many distinct tenant ids, cycled (`tenant-0` … `tenant-N-1`); `distinctTenants: true` gives
 *   every request its own id instead (the million-tenant run);
 * - `paths`: how many distinct paths, cycled; `pathStyle` `id` gives `/v1/conversations/<n>` (an id the endpoint
 *   normaliser folds), `static` gives `/pages/<letters>` (distinct static paths, which it cannot fold).
 */

interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds of load (when `amount` is not set). */
  duration?: number;
  /** Requests to send, then stop. */
  amount?: number;
  tenants: number;
  distinctTenants?: boolean;
  paths: number;
  pathStyle?: 'id' | 'static';
  /** First request number (so consecutive runs continue the sequences). */
  offset?: number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

/** Base-26 letters for n: distinct static path segments with no digit in them. */
function letters(n: number): string {
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  } while (n > 0);
  return s;
}

function main(): void {
  const o = JSON.parse(process.argv[2]) as LoadOptions;
  const autocannon = require('autocannon') as (opts: Record<string, unknown>, cb: (err: Error | null, r: AutocannonResult) => void) => void;
  let i = o.offset ?? 0;
  const headers: Record<string, string> = { 'x-tenant-id': '' };
  const request = {
    method: 'GET',
    setupRequest(req: { path: string; headers: Record<string, string> }) {
      const n = i++;
      const p = n % o.paths;
      req.path = o.pathStyle === 'static' ? `/pages/${letters(p)}` : `/v1/conversations/${p}`;
      headers['x-tenant-id'] = o.distinctTenants === true ? `t-${n}` : `tenant-${n % o.tenants}`;
      req.headers = headers;
      return req;
    },
  };
  autocannon(
    {
      url: o.url,
      connections: o.connections,
      ...(o.amount === undefined ? { duration: o.duration ?? 10 } : { amount: o.amount }),
      // autocannon calls setupRequest for every request it writes (lib/requestIterator.js), on a fresh copy.
      requests: [request],
    },
    (err, r) => {
      if (err !== null) {
        process.stderr.write(`${err.stack ?? String(err)}\n`);
        process.exit(1);
      }
      process.stdout.write(
        JSON.stringify({
          rps: r.requests.total / r.duration,
          total: r.requests.total,
          p50: r.latency.p50,
          p99: r.latency.p99,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
          next: i,
        }) + '\n'
      );
    }
  );
}

main();
