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
import { build } from 'esbuild';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

export const EXTERNAL = ['@opentelemetry/api', 'import-in-the-middle', 'import-in-the-middle/*', '@pydantic/genai-prices'];

async function main(): Promise<void> {
  const result = await build({
    entryPoints: [join(ROOT, 'build', 'src', 'bundle.js')],
    outfile: join(ROOT, 'build', 'tenantscope.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: EXTERNAL,
    // Whitespace and syntax only: names stay as written (stack traces, `constructor.name`).
    minifyWhitespace: true,
    minifySyntax: true,
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

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
