/**
 * The tenant-budget recording and alerting rules (deploy/prometheus/rules/budget.rules.yml) under promtool's
 * rule unit tests (deploy/prometheus/rules/budget.rules.test.yml): month-to-date cost per tenant across
 * instances and restarts, the month reset, the forecast and exceeded alerts. Real promtool (Debian package
 * `prometheus`); skipped with a reason when it is absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const RULES_DIR = join(__dirname, '..', '..', '..', 'deploy', 'prometheus', 'rules');
const RULES = join(RULES_DIR, 'budget.rules.yml');
const TESTS = join(RULES_DIR, 'budget.rules.test.yml');

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
}

test('promtool accepts the budget rules and their unit tests pass', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 4 rules found/);
  const run = spawnSync('promtool', ['test', 'rules', TESTS], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /SUCCESS/);
});

test('the rule unit tests can fail: a wrong month-to-date value is reported', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  const dir = mkdtempSync(join(tmpdir(), 'budget-rules-'));
  try {
    copyFileSync(RULES, join(dir, 'budget.rules.yml'));
    // The first test group only (the month-crossing one evaluates a month of minutes), with one value off by one.
    const text = readFileSync(TESTS, 'utf8');
    const first = text.slice(0, text.indexOf('  # The month-to-date cost starts again'));
    assert.ok(first.includes('value: 1175'));
    writeFileSync(join(dir, 'broken.test.yml'), first.replace('value: 1175', 'value: 1176'));
    const run = spawnSync('promtool', ['test', 'rules', join(dir, 'broken.test.yml')], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /FAILED[\s\S]*month_to_date[\s\S]*1\.176E\+03/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
