import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';

/**
 * The package's root folder: the parent of the `build` folder this file is compiled into (as `build/src/core/`, or
 * inside the bundle `build/tenantscope.js`, scripts/bundle.ts).
 */
export const PACKAGE_ROOT = rootOf(__dirname);

/** The bundle the preload and `require('tenantscope')` load. */
export const BUNDLE_FILE = join(PACKAGE_ROOT, 'build', 'tenantscope.js');

/** The package's version, from its package.json (the instrumentation scope version of everything we emit). */
export const VERSION: string = readVersion();

function rootOf(dir: string): string {
  const parts = dir.split(sep);
  const build = parts.lastIndexOf('build');
  return build > 0 ? parts.slice(0, build).join(sep) : join(dir, '..', '..', '..');
}

function readVersion(): string {
  try {
    const v = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
