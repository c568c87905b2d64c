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
 *
 * `@opentelemetry/semantic-conventions` is replaced in the bundle by the constants the bundled code names (see
 * {@link semconvShimSource}): its CommonJS entry defines 664 exports and builds the deprecated attribute maps at
 * load, ≈ 5–9 ms of every start, for the ≈ 40 constants used.
 */
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
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
  // @opentelemetry/resources requires it at load for the service-instance-id detector (`randomUUID`), which tenantscope
  // does not run; loading Node's crypto and its ≈ 20 internal modules cost a start ≈ 5 ms and 1 MiB (measured with
  // TenantRegistry's own crypto, the other require that loaded it at start).
  crypto: '@opentelemetry/resources',
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

/** The package whose bundled copy is the shim of {@link semconvShimSource} (its stable entry; `/incubating` is not bundled). */
export const SEMCONV = '@opentelemetry/semantic-conventions';

/** The export names of `all` that `sources` mention as identifiers: what the bundled code can read of the package. */
export function semconvNamesUsed(sources: Iterable<string>, all: readonly string[]): string[] {
  const names = new Set(all);
  const used = new Set<string>();
  for (const text of sources) {
    for (const m of text.matchAll(/[A-Za-z_$][\w$]*/g)) if (names.has(m[0])) used.add(m[0]);
  }
  return [...used].sort();
}

/**
 * The module that stands in for the semantic-conventions entry: the `used` constants as plain properties (values
 * taken from `real`, the package's own exports at build time: strings and numbers), and any other export name of the
 * package read from the installed package itself at its first read (a name read dynamically, which the scan of
 * {@link semconvNamesUsed} cannot see). Names that are not the package's (`__esModule`, `default`) read `undefined`
 * without loading it, as they do on the package. What differs from the package: enumerating the shim (`Object.keys`,
 * a spread) lists the kept names only, which no bundled module does. Throws when a used export is not a primitive
 * (it would have to be the package's own object).
 */
export function semconvShimSource(real: Readonly<Record<string, unknown>>, used: readonly string[]): string {
  const lines = used.map((n) => {
    const v = real[n];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new Error(`${SEMCONV}: ${n} is a ${typeof v}, not a constant`);
    return `out.${n} = ${JSON.stringify(v)};`;
  });
  return `'use strict';
// Generated by scripts/bundle.ts: the ${used.length} constants of ${SEMCONV} the bundled code names.
const NAMES = new Set(${JSON.stringify(Object.keys(real))});
let real;
const rest = new Proxy({}, {
  get: (_, key) => (typeof key === 'string' && NAMES.has(key) ? (real ??= require(${JSON.stringify(SEMCONV)}))[key] : undefined),
  has: (_, key) => typeof key === 'string' && NAMES.has(key),
});
const out = Object.create(rest);
Object.defineProperty(out, Symbol.toStringTag, { value: 'Module' });
${lines.join('\n')}
module.exports = out;
`;
}

/**
 * Puts the shim of {@link semconvShimSource} in place of each copy of the package the bundled code requires (by
 * resolved file: one shim per installed version), with `used` as its constants. The shim's own fallback require
 * stays outside the bundle.
 */
function semconvShim(used: readonly string[]): Plugin {
  return {
    name: 'tenantscope-semconv-shim',
    setup(b) {
      b.onResolve({ filter: /^@opentelemetry\/semantic-conventions$/ }, (args) => {
        if (args.namespace === 'semconv-shim') return { path: args.path, external: true };
        return { path: require.resolve(args.path, { paths: [args.resolveDir] }), namespace: 'semconv-shim' };
      });
      b.onLoad({ filter: /.*/, namespace: 'semconv-shim' }, (args) => ({
        contents: semconvShimSource(require(args.path) as Record<string, unknown>, used),
        loader: 'js',
        resolveDir: ROOT,
      }));
    },
  };
}

/** The public API's export names (src/index.ts, as tsc built it). */
export function apiNames(): string[] {
  const names = Object.keys(require(join(ROOT, 'build', 'src', 'index.js')) as object).filter((n) => n !== '__esModule');
  for (const n of names) if (!/^[A-Za-z_$][\w$]*$/.test(n)) throw new Error(`API export ${n} is not an identifier`);
  return names;
}

async function main(): Promise<void> {
  const common: BuildOptions = {
    entryPoints: [join(ROOT, 'build', 'src', 'bundle.js')],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: EXTERNAL,
    metafile: true,
    logLevel: 'warning',
  };
  // First pass (not written): which files the bundle holds, so the semantic-conventions shim keeps what they name.
  const scan = await build({ ...common, write: false, plugins: [lazyModules] });
  const sources: string[] = [];
  for (const input of Object.keys(scan.metafile!.inputs)) {
    const file = join(ROOT, input);
    if (!input.includes(`node_modules/${SEMCONV}/`) && existsSync(file)) sources.push(readFileSync(file, 'utf8'));
  }
  const used = semconvNamesUsed(sources, Object.keys(require(SEMCONV) as object));
  const result = await build({
    ...common,
    outfile: join(ROOT, 'build', 'tenantscope.js'),
    plugins: [lazyModules, semconvShim(used)],
    // Whitespace and syntax only: names stay as written (stack traces, `constructor.name`).
    minifyWhitespace: true,
    minifySyntax: true,
    // The API's names in the form Node's CommonJS lexer reads (as esbuild writes it for an ES module entry), so
    // that `import { withTenant } from 'tenantscope'` works in an ES module.
    footer: { js: `0 && (module.exports = { ${apiNames().join(', ')} });` },
    // Linked to tsc's maps, so `--enable-source-maps` traces point at the TypeScript sources.
    sourcemap: 'linked',
    legalComments: 'eof',
  });
  const inputs = Object.keys(result.metafile!.inputs);
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
