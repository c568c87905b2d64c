// Lint run by `npm test` (see package.json "lint"). Two jobs:
// 1. The import rule of docs/architecture.md: src/core imports nothing above it; processors/ and
//    instrumentations/ import only src/core (and packages), never each other; only the composition root
//    (src/sdk.ts, src/register.ts, src/index.ts) imports processors/ and instrumentations/.
// 2. Promises the host app could trip over: no-floating-promises, no-misused-promises.
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

const composition = ['src/sdk.ts', 'src/register.ts', 'src/index.ts'];

export default tseslint.config(
  { ignores: ['build/**', 'node_modules/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['src/**/*.ts', 'processors/**/*.ts', 'instrumentations/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })] },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['src/**/*.ts', 'processors/**/*.ts', 'instrumentations/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/core',
              from: ['./src', './processors', './instrumentations'],
              except: ['./core'],
              message: 'src/core is the shared base: it imports nothing above it (docs/architecture.md).',
            },
            {
              target: './processors',
              from: ['./instrumentations'],
              message: 'processors/ and instrumentations/ never import each other; share through src/core.',
            },
            {
              target: './processors',
              from: './src',
              except: ['./core'],
              message: 'processors/ import only src/core (docs/architecture.md).',
            },
            {
              target: './instrumentations',
              from: ['./processors'],
              message: 'instrumentations/ and processors/ never import each other; share through src/core.',
            },
            {
              target: './instrumentations',
              from: './src',
              except: ['./core'],
              message: 'instrumentations/ import only src/core (docs/architecture.md).',
            },
            {
              target: './src',
              from: ['./processors', './instrumentations'],
              message: 'Only the composition root (src/sdk.ts, src/register.ts, src/index.ts) imports processors/ and instrumentations/.',
            },
          ],
        },
      ],
    },
  },
  {
    // The composition root wires everything together.
    files: composition,
    rules: { 'import-x/no-restricted-paths': 'off' },
  }
);
