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
 */
function registerEsmHook(): void {
  try {
    const hooks = require('import-in-the-middle/register-hooks.mjs') as {
      register(): void;
      supportsSyncHooks(): boolean;
    };
    if (hooks.supportsSyncHooks()) {
      hooks.register();
      return;
    }
    const mod = require('node:module') as typeof import('node:module');
    mod.register('import-in-the-middle/hook.mjs', pathToFileURL(__filename));
  } catch (err) {
    say(`ESM instrumentation is off (${describeError(err)}); CommonJS modules are still instrumented.`);
  }
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
