/**
 * The tenant-budget recording and alerting rules (deploy/prometheus/rules/budget.rules.yml) under promtool's
 * rule unit tests (deploy/prometheus/tests/budget.test.yml): month-to-date cost per tenant across instances and
 * restarts, the month reset, the forecast and exceeded alerts. The unit-test file itself runs with every other one
 * in test/e2e/prometheus-rules.test.ts (which also checks each alert's runbook and coverage); here: the rule count,
 * and that a wrong month-to-date value fails. Real promtool (Debian package `prometheus`); skipped with a reason
 * when it is absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RULE_TESTS_DIR, RULES_DIR } from '../helpers/deploy';

const RULES = join(RULES_DIR, 'budget.rules.yml');
const TESTS = join(RULE_TESTS_DIR, 'budget.test.yml');

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
}

test('promtool accepts the budget rules: two recording rules and two alerts', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 4 rules found/);
});

test('the rule unit tests can fail: a wrong month-to-date value is reported', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian package prometheus)');
  // The same layout as the repository (tests/ next to rules/), so the file's relative rule_files path resolves.
  const dir = mkdtempSync(join(tmpdir(), 'budget-rules-'));
  try {
    mkdirSync(join(dir, 'rules'));
    mkdirSync(join(dir, 'tests'));
    copyFileSync(RULES, join(dir, 'rules', 'budget.rules.yml'));
    // The first test group only (the month-crossing one evaluates a month of minutes), with one value off by one.
    const text = readFileSync(TESTS, 'utf8');
    const first = text.slice(0, text.indexOf('  # The month-to-date cost starts again'));
    assert.ok(first.includes('value: 1175'));
    writeFileSync(join(dir, 'tests', 'broken.test.yml'), first.replace('value: 1175', 'value: 1176'));
    const run = spawnSync('promtool', ['test', 'rules', join(dir, 'tests', 'broken.test.yml')], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /FAILED[\s\S]*month_to_date[\s\S]*1\.176E\+03/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
