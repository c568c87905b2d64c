/**
 * Bundles the built package into build/tenantscope.js (`npm run build` runs it after `tsc`), the file the preload and
 * `require('tenantscope')` load: one file instead of ≈ 300 (our own and the OpenTelemetry SDK's), which is most of
 * what start-up spends (module resolution, reads, wrappers; docs/benchmarks.md "Start-up"). Modules inside keep their
 * first-use loading: the bundle wraps each one and evaluates it at its first `require`, as Node does.
 *
 * Left outside, loaded from node_modules as before:
 * - `@opentelemetry/api`, the peer dependency: the app's copy, shared with its own spans;
 * - `import-in-the-middle`, whose ES module hooks Node loads by path;
 * - `@pydantic/genai-prices`, data read at the first price lookup.
 */
import { build, type Plugin } from 'esbuild';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

export const EXTERNAL = ['@opentelemetry/api', 'import-in-the-middle', '@pydantic/genai-prices'];

/**
 * Modules a bundled package requires at its load but uses later, if ever: each is replaced by a stand-in that loads
 * it (from node_modules, where the package that requires it finds it) at the first read of one of its exports.
 * Module → the package that requires it.
 */
export const LAZY: Readonly<Record<string, string>> = {
  // instrumentation-host-metrics requires it at load for its network group; tenantscope asks for the process groups
  // only. At start it brings `child_process`, `cluster` and `dgram` with it: ≈ 4 MiB and 15–30 ms.
  'systeminformation/lib/network.js': '@opentelemetry/instrumentation-host-metrics',
};

/** The stand-in for `spec`: an object whose properties are those of `spec`, loaded at the first read. */
export function lazyModuleSource(spec: string, owner: string): string {
  return `'use strict';
const { dirname } = require('node:path');
// Resolved at run time, from the installed package that requires it.
const spec = ${JSON.stringify(spec)};
const owner = ${JSON.stringify(owner)};
let real;
function load() {
  if (real === undefined) real = require(require.resolve(spec, { paths: [dirname(require.resolve(owner))] }));
  return real;
}
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d === undefined ? undefined : { ...d, configurable: true };
  },
});
`;
}

const lazyModules: Plugin = {
  name: 'tenantscope-lazy-modules',
  setup(b) {
    const names = Object.keys(LAZY);
    const filter = new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: lazyModuleSource(args.path, LAZY[args.path]), loader: 'js', resolveDir: ROOT }));
  },
};

/** The public API's export names (src/index.ts, as tsc built it). */
export function apiNames(): string[] {
  const names = Object.keys(require(join(ROOT, 'build', 'src', 'index.js')) as object).filter((n) => n !== '__esModule');
  for (const n of names) if (!/^[A-Za-z_$][\w$]*$/.test(n)) throw new Error(`API export ${n} is not an identifier`);
  return names;
}

async function main(): Promise<void> {
  const result = await build({
    entryPoints: [join(ROOT, 'build', 'src', 'bundle.js')],
    outfile: join(ROOT, 'build', 'tenantscope.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: EXTERNAL,
    plugins: [lazyModules],
    // Whitespace and syntax only: names stay as written (stack traces, `constructor.name`).
    minifyWhitespace: true,
    minifySyntax: true,
    // The API's names in the form Node's CommonJS lexer reads (as esbuild writes it for an ES module entry), so
    // that `import { withTenant } from 'tenantscope'` works in an ES module.
    footer: { js: `0 && (module.exports = { ${apiNames().join(', ')} });` },
    // Linked to tsc's maps, so `--enable-source-maps` traces point at the TypeScript sources.
    sourcemap: 'linked',
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  // The peer dependency must stay the app's: a bundled copy would register a second API.
  const api = inputs.filter((f) => f.includes('node_modules/@opentelemetry/api/'));
  if (api.length > 0) throw new Error(`@opentelemetry/api was bundled (${api[0]}); it must stay external`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
