/**
 * The preload: `node --require tenantscope/register app.js` or `node --import tenantscope/register app.mjs`.
 * The only module with import side effects. It never throws into the app and never changes how it exits.
 */
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { getInstance, setInstance } from './instance';
import { describeError } from './core/log';
import { startTenantScope, type TenantScope } from './sdk';

// `module.register` runs preloads again inside the loader-hooks thread: start once, on the main thread.
// OTEL_SDK_DISABLED=true registers nothing at all: no hook, no provider, no listener.
if (isMainThread && getInstance() === undefined && !disabled()) {
  setInstance(null);
  try {
    const scope = startTenantScope(process.env);
    if (scope !== undefined) {
      setInstance(scope);
      installExitHooks(scope);
    }
  } catch (err) {
    say(`could not start (${describeError(err)}); the app runs uninstrumented.`);
  }
  // After the SDK is loaded, before the app: its hooks run for every module loaded after them, and the SDK's
  // few hundred files need none (start-up, docs/benchmarks.md).
  if (entryIsFile()) registerEsmHook();
}

function disabled(): boolean {
  return process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
}

/**
 * True when the process runs a script file. `-e`, `-p`, `-i` (REPL) and code on stdin have no entry file; there
 * import-in-the-middle 3.6's in-thread hooks break the entry itself ("ENOENT … open 'module'"), so they get no ESM
 * hook (their CommonJS requires are still instrumented).
 */
function entryIsFile(): boolean {
  const p = process as unknown as { _eval?: string; _forceRepl?: boolean };
  const entry = process.argv[1];
  return p._eval === undefined && p._forceRepl !== true && entry !== undefined && entry !== '-';
}

/**
 * Lets instrumentations patch ES modules with the one preload flag: import-in-the-middle's synchronous,
 * in-thread hooks where Node supports them, otherwise its loader thread (as Elastic's distribution does).
 *
 * The in-thread hooks are registered at the app's first `import` (of its entry, when that is an ES module), not at
 * start: loading them compiles import-in-the-middle's ES modules and instantiates its two WebAssembly lexers,
 * ≈ 7 MiB and 10–20 ms that a CommonJS app which never imports pays for nothing (start-up, docs/benchmarks.md).
 * Until then one pass-through resolve hook waits; the import that fires it is resolved by import-in-the-middle's
 * own resolve hook, so that module is wrapped like every later one.
 */
function registerEsmHook(): void {
  try {
    const mod = require('node:module') as typeof import('node:module');
    if (!nodeHasSyncLoaderHooks() || typeof mod.registerHooks !== 'function') {
      mod.register('import-in-the-middle/hook.mjs', pathToFileURL(__filename));
      return;
    }
    let waiting: { deregister(): void } | undefined;
    waiting = mod.registerHooks({
      resolve(specifier, context, nextResolve) {
        // CommonJS requires go to require-in-the-middle; import-in-the-middle owns the ES module graph.
        if (waiting === undefined || context.conditions?.includes('require') === true) return nextResolve(specifier, context);
        const self = waiting;
        waiting = undefined;
        self.deregister();
        const resolve = registerImportInTheMiddle(mod);
        return resolve === undefined ? nextResolve(specifier, context) : resolve(specifier, context, nextResolve);
      },
    });
  } catch (err) {
    say(`ESM instrumentation is off (${describeError(err)}); CommonJS modules are still instrumented.`);
  }
}

type ResolveHook = NonNullable<Parameters<typeof import('node:module').registerHooks>[0]['resolve']>;
type LoadHook = NonNullable<Parameters<typeof import('node:module').registerHooks>[0]['load']>;

/**
 * Registers import-in-the-middle's in-thread hooks, as its `register-hooks.mjs` `register()` does (`createHook` with
 * that module's URL, then `module.registerHooks`), and returns its resolve hook for the import already under way
 * (`register()` keeps the hooks to itself; the version is pinned for this). On a Node its predicate rejects, falls
 * back to the loader thread (for later imports).
 */
function registerImportInTheMiddle(mod: typeof import('node:module')): ResolveHook | undefined {
  try {
    const iitm = require('import-in-the-middle/create-hook.mjs') as {
      supportsSyncHooks(): boolean;
      createHook(meta: { url: string }): { resolveSync: ResolveHook; loadSync: LoadHook };
    };
    if (!iitm.supportsSyncHooks()) {
      mod.register('import-in-the-middle/hook.mjs', pathToFileURL(__filename));
      return undefined;
    }
    const hook = iitm.createHook({ url: pathToFileURL(require.resolve('import-in-the-middle/register-hooks.mjs')).href });
    mod.registerHooks({ resolve: hook.resolveSync, load: hook.loadSync });
    return hook.resolveSync;
  } catch (err) {
    say(`ESM instrumentation is off (${describeError(err)}); CommonJS modules are still instrumented.`);
    return undefined;
  }
}

/**
 * import-in-the-middle 3.6's `supportsSyncHooks()` rule (a `module.registerHooks` whose load hook accepts the nullish
 * CommonJS source, nodejs/node#59929: ≥ 22.22.3, ≥ 24.11.1, ≥ 25.1.0, ≥ 26), read here so that start-up does not
 * load its ES module to ask; the library's own predicate is asked again at the first import.
 */
function nodeHasSyncLoaderHooks(): boolean {
  const [major, minor, patch] = process.versions.node.split('.').map(Number);
  if (major >= 26) return true;
  if (major === 25) return minor >= 1;
  if (major === 24) return minor > 11 || (minor === 11 && patch >= 1);
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 3);
  return false;
}

/**
 * Flushes on `beforeExit`, and on SIGTERM/SIGINT only when the app has its own handler for that signal:
 * a listener of ours alone would stop Node's default exit (opentelemetry-js#1521).
 */
function installExitHooks(scope: TenantScope): void {
  process.once('beforeExit', () => {
    scope.shutdown().catch(() => undefined);
  });
  const onSignal = (): void => {
    scope.forceFlush().catch(() => undefined);
  };
  const joined = new Set<string | symbol>();
  process.on('newListener', (event: string | symbol, listener: unknown) => {
    if ((event !== 'SIGTERM' && event !== 'SIGINT') || listener === onSignal || joined.has(event)) return;
    joined.add(event);
    // Added after the app's listener is in place (newListener fires before it is added).
    queueMicrotask(() => process.on(event, onSignal));
  });
  process.on('removeListener', (event: string | symbol, listener: unknown) => {
    if (!joined.has(event) || listener === onSignal) return;
    if (process.listeners(event as NodeJS.Signals).every((l) => l === onSignal)) {
      joined.delete(event);
      process.removeListener(event, onSignal);
    }
  });
}

/**
 * One plain stderr line, like register.js's: before the pipeline starts there is no diag logger, and
 * process.emitWarning would add a second line ("Use `node --trace-warnings ...`") to the app's output.
 */
function say(line: string): void {
  try {
    process.stderr.write(`tenantscope: ${line}\n`);
  } catch {
    // stderr closed: stay silent rather than break the app
  }
}
