/**
 * The import rule of docs/architecture.md, as `npm run lint` enforces it: probe files that break the rule are
 * written into the real folders (so the type-aware lint sees them as part of the project), linted with the
 * repository's own eslint.config.mjs, and removed again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const ESLINT = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

interface Probe {
  /** Where the probe file goes, relative to the repository root. */
  file: string;
  /** What it imports. */
  from: string;
  /** True when the import breaks the rule. */
  forbidden: boolean;
}

/** Lints each probe; returns the probes the lint reported under import-x/no-restricted-paths. */
function reported(probes: Probe[]): Set<string> {
  const paths = probes.map((p, i) => {
    const path = join(ROOT, p.file.replace(/\.ts$/, `.lintprobe${process.pid}_${i}.ts`));
    writeFileSync(path, `import * as probe from '${p.from}';\nexport const touched = typeof probe;\n`);
    return path;
  });
  try {
    const r = spawnSync(process.execPath, [ESLINT, '--format', 'json', '--no-warn-ignored', ...paths], { cwd: ROOT, encoding: 'utf8' });
    assert.ok(r.stdout.length > 0, `eslint printed nothing: ${r.stderr}`);
    const results = JSON.parse(r.stdout) as { filePath: string; messages: { ruleId: string | null; message: string }[] }[];
    const out = new Set<string>();
    for (const res of results) {
      const i = paths.indexOf(res.filePath);
      assert.ok(i >= 0, `unexpected file ${res.filePath}`);
      const fatal = res.messages.filter((m) => m.ruleId === null);
      assert.deepEqual(fatal, [], `eslint could not lint ${probes[i].file}`);
      if (res.messages.some((m) => m.ruleId === 'import-x/no-restricted-paths')) out.add(`${probes[i].file} <- ${probes[i].from}`);
    }
    return out;
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
}

test('the lint rejects every import against the one-way rule and accepts the allowed ones', () => {
  const probes: Probe[] = [
    // processors/ and instrumentations/ never import each other
    { file: 'processors/Probe.ts', from: '../instrumentations/genai/utils', forbidden: true },
    { file: 'instrumentations/genai/Probe.ts', from: '../../processors/RedMetricsSpanProcessor', forbidden: true },
    // they import only src/core from src/
    { file: 'processors/Probe.ts', from: '../src/prometheus/naming', forbidden: true },
    { file: 'instrumentations/Probe.ts', from: '../src/sdk', forbidden: true },
    // src/core imports nothing above it
    { file: 'src/core/Probe.ts', from: '../sdk', forbidden: true },
    { file: 'src/core/tenant/Probe.ts', from: '../../propagation/TenantPropagator', forbidden: true },
    { file: 'src/core/Probe.ts', from: '../../processors/TenantSpanProcessor', forbidden: true },
    // only the composition root imports processors/ and instrumentations/
    { file: 'src/prometheus/Probe.ts', from: '../../processors/TenantSpanProcessor', forbidden: true },
    { file: 'src/Probe.ts', from: '../instrumentations/upstream', forbidden: true },
    // allowed
    { file: 'processors/Probe.ts', from: '../src/core/log', forbidden: false },
    { file: 'instrumentations/genai/Probe.ts', from: '../../src/core/tenant/ModelEndpointPolicy', forbidden: false },
    { file: 'src/core/tenant/Probe.ts', from: '../metrics/MetricStore', forbidden: false },
    { file: 'src/prometheus/Probe.ts', from: '../core/metrics/MetricFamily', forbidden: false },
  ];
  const got = reported(probes);
  const want = new Set(probes.filter((p) => p.forbidden).map((p) => `${p.file} <- ${p.from}`));
  assert.deepEqual([...got].sort(), [...want].sort());
});

test('the lint reports a floating promise and a promise passed where a callback is expected', () => {
  const path = join(ROOT, 'src', 'core', `promises.lintprobe${process.pid}.ts`);
  writeFileSync(
    path,
    [
      'async function work(): Promise<void> {}',
      'export function floating(): void {',
      '  work();',
      '}',
      "export function misused(e: { on(ev: string, cb: () => void): void }): void {",
      "  e.on('x', async () => work());",
      '}',
      '',
    ].join('\n')
  );
  try {
    const r = spawnSync(process.execPath, [ESLINT, '--format', 'json', path], { cwd: ROOT, encoding: 'utf8' });
    const [res] = JSON.parse(r.stdout) as { messages: { ruleId: string | null; line: number }[] }[];
    const rules = res.messages.map((m) => `${m.line}:${m.ruleId}`).sort();
    assert.deepEqual(rules, ['3:@typescript-eslint/no-floating-promises', '6:@typescript-eslint/no-misused-promises']);
  } finally {
    rmSync(path, { force: true });
  }
});
