/**
 * The entry of build/tenantscope.js, the bundle scripts/bundle.ts makes: the one file the preload and
 * `require('tenantscope')` load, so that they share one copy of everything (start-up, docs/benchmarks.md). Its exports
 * are the public API (src/index.ts); the preload (register.js) starts the pipeline through the registered symbol
 * below, which is not part of the API.
 */
export * from './index';

Object.defineProperty(exports, Symbol.for('tenantscope.register'), {
  value: (): void => {
    require('./register');
  },
});
