import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package's root folder (this file is built to `build/src/core/`). */
export const PACKAGE_ROOT = join(__dirname, '..', '..', '..');

/** The package's version, from its package.json (the instrumentation scope version of everything we emit). */
export const VERSION: string = readVersion();

function readVersion(): string {
  try {
    const v = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
