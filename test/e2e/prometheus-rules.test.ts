/**
 * The stack's recording and alert rules (deploy/prometheus/rules) and Alertmanager configuration, checked with
 * the real tools: `promtool check rules`, `promtool test rules` (Debian package `prometheus`), `amtool
 * check-config` and `amtool config routes test` (Debian package `prometheus-alertmanager`; .ci/run installs
 * both). Plus what the tools cannot see: every alert and every recording rule is covered by a unit test, every
 * alert fires in one and is silent for some series in one, and every runbook link resolves in docs/runbooks.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ALERTMANAGER_CONFIG, filesIn, loadRules, loadYaml, ROOT, RULE_TESTS_DIR, RULES_DIR, type PromRule, type Yaml } from '../helpers/deploy';
import { PROMTOOL_BIN } from '../helpers/prometheus';

const AMTOOL = process.env.AMTOOL_BIN ?? 'amtool';
const RULE_FILES = filesIn(RULES_DIR, '.rules.yml');
const TEST_FILES = filesIn(RULE_TESTS_DIR, '.test.yml');
const rules = loadRules();
const alerts = rules.filter((r) => r.alert !== undefined);
const records = rules.filter((r) => r.record !== undefined);

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT, timeout: 240_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface AlertCase {
  file: string;
  testName: string;
  inputs: string[];
  alertname: string;
  evalTime: string;
  expAlerts: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
}

/** Every alert_rule_test case and every promql_expr_test expression of the unit-test files. */
function loadTestCases(): { alertCases: AlertCase[]; exprs: string[] } {
  const alertCases: AlertCase[] = [];
  const exprs: string[] = [];
  for (const file of TEST_FILES) {
    for (const t of loadYaml(file).tests as Yaml[]) {
      const inputs = ((t.input_series ?? []) as Yaml[]).map((s) => s.series as string);
      for (const c of (t.alert_rule_test ?? []) as Yaml[]) {
        alertCases.push({ file, testName: t.name, inputs, alertname: c.alertname, evalTime: c.eval_time, expAlerts: c.exp_alerts ?? [] });
      }
      for (const c of (t.promql_expr_test ?? []) as Yaml[]) exprs.push(c.expr);
    }
  }
  return { alertCases, exprs };
}

test('the rule files hold the recording and alert rules the docs list', () => {
  assert.deepEqual(
    RULE_FILES.map((f) => f.slice(RULES_DIR.length + 1)),
    ['budget.rules.yml', 'tenantscope-alerts.rules.yml', 'tenantscope-recording.rules.yml']
  );
  assert.equal(records.length, 36);
  assert.equal(alerts.length, 25);
  // docs/metrics.md lists every recorded name.
  const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  for (const name of new Set(records.map((r) => r.record!))) assert.ok(doc.includes(`\`${name}\``), `docs/metrics.md does not list ${name}`);
});

test('promtool check rules accepts every rule file, and rejects a broken copy', () => {
  for (const file of RULE_FILES) {
    const r = run(PROMTOOL_BIN, ['check', 'rules', file]);
    assert.equal(r.status, 0, r.out);
    const count = (loadYaml(file).groups as Yaml[]).reduce((n, g) => n + (g.rules as Yaml[]).length, 0);
    assert.match(r.out, new RegExp(`SUCCESS: ${count} rules found`));
  }
  const broken = join(RULES_DIR, `.broken-${process.pid}.yml`);
  try {
    writeFileSync(broken, readFileSync(join(RULES_DIR, 'tenantscope-recording.rules.yml'), 'utf8').replace('sum by (service, tenant_id) (rate(http_requests_total[5m]))', 'sum by (service, tenant_id) (rate(http_requests_total[5m])'));
    const bad = run(PROMTOOL_BIN, ['check', 'rules', broken]);
    assert.equal(bad.status, 1, bad.out);
    assert.match(bad.out, /FAILED/);
  } finally {
    rmSync(broken, { force: true });
  }
});

test('promtool test rules passes every unit-test file', () => {
  assert.deepEqual(
    TEST_FILES.map((f) => f.slice(RULE_TESTS_DIR.length + 1)),
    ['alerts-daily.test.yml', 'alerts.test.yml', 'budget.test.yml', 'recording.test.yml', 'slo.test.yml']
  );
  const r = run(PROMTOOL_BIN, ['test', 'rules', ...TEST_FILES]);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out.match(/SUCCESS/g)?.length, TEST_FILES.length, r.out);
});

test('unit-test files fix the group evaluation order: each group after the groups whose recorded series it reads', () => {
  // promtool runs the groups in Go map order (random per run) without group_eval_order: an alert evaluated before
  // the recording rule it reads sees the previous evaluation's sample, gone stale past the 5-minute lookback when
  // a file evaluates every 10 minutes (slo.test.yml's LatencySLOBudgetBurn failed about one run in three).
  const recordedIn = new Map<string, string>();
  for (const r of records) recordedIn.set(r.record!, r.group);
  const reads = (expr: string, name: string): boolean => new RegExp(`(^|[^a-zA-Z0-9_:])${name}($|[^a-zA-Z0-9_:])`).test(expr);
  let checked = 0;
  for (const file of TEST_FILES) {
    const t = loadYaml(file);
    const groups = (t.rule_files as string[]).flatMap((f) => (loadYaml(join(dirname(file), f)).groups as Yaml[]).map((g) => g.name as string));
    const deps: [PromRule, string, string][] = [];
    for (const r of rules.filter((x) => groups.includes(x.group))) {
      for (const [name, group] of recordedIn) if (group !== r.group && groups.includes(group) && reads(r.expr, name)) deps.push([r, name, group]);
    }
    if (deps.length === 0) continue;
    const order = (t.group_eval_order ?? []) as string[];
    assert.deepEqual([...order].sort(), [...groups].sort(), `${file}: group_eval_order must name every group of its rule files`);
    for (const [r, name, group] of deps) {
      assert.ok(order.indexOf(group) < order.indexOf(r.group), `${file}: ${r.alert ?? r.record} (group ${r.group}) reads ${name}, recorded by the later group ${group}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});

test('promtool test rules fails when an expectation is wrong (the unit tests can fail)', () => {
  // A copy next to the original (the rule_files paths are relative) that expects globex's alert for initech,
  // whose 2% error ratio is under the threshold.
  const copy = join(RULE_TESTS_DIR, `.mutated-${process.pid}.test.yml`);
  try {
    const text = readFileSync(join(RULE_TESTS_DIR, 'alerts.test.yml'), 'utf8');
    const mutated = text.replace('{severity: warning, service: chat-service, tenant_id: globex}', '{severity: warning, service: chat-service, tenant_id: initech}');
    assert.notEqual(mutated, text);
    writeFileSync(copy, mutated);
    const r = run(PROMTOOL_BIN, ['test', 'rules', copy]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /FAILED/);
    assert.match(r.out, /tenant_id="initech"/);
  } finally {
    rmSync(copy, { force: true });
  }
});

test('every alert fires in a unit test, at each of its severities', () => {
  const { alertCases } = loadTestCases();
  const fired = new Set<string>();
  for (const c of alertCases) for (const a of c.expAlerts) fired.add(`${c.alertname}/${a.exp_labels?.severity}`);
  const missing = alerts.map((a) => `${a.alert}/${a.labels?.severity}`).filter((k) => !fired.has(k));
  assert.deepEqual(missing, []);
});

test('every alert stays silent in a unit test for series that should not fire it', () => {
  // Silent means: a case expecting no alert at all, or a case whose input series name a subject (tenant, service,
  // queue, job, table, cache type) that the case's exact list of firing alerts leaves out.
  const { alertCases } = loadTestCases();
  const silentFor = new Map<string, string[]>();
  for (const c of alertCases) {
    const evidence = silentFor.get(c.alertname) ?? [];
    if (c.expAlerts.length === 0) evidence.push(`${c.testName} @${c.evalTime}: no alert`);
    const keys = new Set(c.expAlerts.flatMap((a) => Object.keys(a.exp_labels ?? {}).filter((k) => k !== 'severity')));
    for (const key of keys) {
      const firing = new Set(c.expAlerts.map((a) => a.exp_labels?.[key]));
      for (const s of c.inputs) {
        const m = new RegExp(`[{,]${key}="([^"]*)"`).exec(s);
        if (m && !firing.has(m[1])) evidence.push(`${c.testName} @${c.evalTime}: ${key}=${m[1]} silent`);
      }
    }
    silentFor.set(c.alertname, evidence);
  }
  const unproven = [...new Set(alerts.map((a) => a.alert!))].filter((name) => (silentFor.get(name) ?? []).length === 0);
  assert.deepEqual(unproven, []);
});

test('every recording rule is checked by a promql_expr_test', () => {
  const { exprs } = loadTestCases();
  const untested = [...new Set(records.map((r) => r.record!))].filter((name) => !exprs.some((e) => new RegExp(`(^|[^a-zA-Z0-9_:])${name.replace(/:/g, ':')}($|[^a-zA-Z0-9_:])`).test(e)));
  assert.deepEqual(untested, []);
});

test('every alert has a severity, a summary, a description and a runbook section that exists', () => {
  const runbooks = readFileSync(join(ROOT, 'docs', 'runbooks.md'), 'utf8');
  const anchors = new Set([...runbooks.matchAll(/^## (\S+)$/gm)].map((m) => m[1].toLowerCase()));
  for (const a of alerts) {
    assert.ok(a.labels?.severity === 'critical' || a.labels?.severity === 'warning', `${a.alert}: severity ${a.labels?.severity}`);
    assert.ok((a.annotations?.summary ?? '').length > 10, `${a.alert}: summary`);
    assert.ok((a.annotations?.description ?? '').length > 20, `${a.alert}: description`);
    const url = a.annotations?.runbook_url ?? '';
    assert.equal(url, `docs/runbooks.md#${a.alert!.toLowerCase()}`);
    assert.ok(anchors.has(a.alert!.toLowerCase()), `docs/runbooks.md has no section "## ${a.alert}"`);
  }
  // A pair shares its name, so the critical inhibits the warning (deploy/alertmanager/alertmanager.yml).
  const byName = new Map<string, string[]>();
  for (const a of alerts) byName.set(a.alert!, [...(byName.get(a.alert!) ?? []), a.labels!.severity]);
  for (const [name, sevs] of byName) assert.ok(sevs.length === 1 || (sevs.length === 2 && sevs.includes('critical') && sevs.includes('warning')), `${name}: ${sevs}`);
});

test('amtool accepts the Alertmanager config, and rejects a copy routing to an undefined receiver', (t) => {
  const probe = spawnSync(AMTOOL, ['--version'], { encoding: 'utf8' });
  if (probe.error) return t.skip(`${AMTOOL} is not installed (Debian package prometheus-alertmanager; .ci/run installs it)`);
  const ok = run(AMTOOL, ['check-config', ALERTMANAGER_CONFIG]);
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, /SUCCESS/);
  assert.match(ok.out, /1 inhibit rules/);
  assert.match(ok.out, /2 receivers/);
  const broken = join(ROOT, 'deploy', 'alertmanager', `.broken-${process.pid}.yml`);
  try {
    writeFileSync(broken, readFileSync(ALERTMANAGER_CONFIG, 'utf8').replace('      receiver: page\n', '      receiver: pager\n'));
    const bad = run(AMTOOL, ['check-config', broken]);
    assert.notEqual(bad.status, 0, bad.out);
    assert.match(bad.out, /pager/);
  } finally {
    rmSync(broken, { force: true });
  }
});

test('Alertmanager routes critical alerts to the pager and warnings to notifications, tenant alerts grouped by tenant', (t) => {
  const probe = spawnSync(AMTOOL, ['--version'], { encoding: 'utf8' });
  if (probe.error) return t.skip(`${AMTOOL} is not installed (Debian package prometheus-alertmanager)`);
  const route = (...labels: string[]): string => {
    const r = run(AMTOOL, ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, ...labels]);
    assert.equal(r.status, 0, r.out);
    return r.out.split('\n').filter((l) => l !== '' && !l.startsWith('Warning'))[0];
  };
  assert.equal(route('alertname=TenantErrorRatioHigh', 'severity=critical', 'tenant_id=acme'), 'page');
  assert.equal(route('alertname=TenantErrorRatioHigh', 'severity=warning', 'tenant_id=acme'), 'notify');
  assert.equal(route('alertname=TargetDown', 'severity=critical'), 'page');
  assert.equal(route('alertname=Unlabelled'), 'notify');
  const cfg = loadYaml(ALERTMANAGER_CONFIG);
  for (const sev of cfg.route.routes as Yaml[]) {
    assert.deepEqual(sev.routes, [{ matchers: ['tenant_id=~".+"'], group_by: ['tenant_id', 'alertname'] }]);
  }
  assert.deepEqual(cfg.inhibit_rules, [
    { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['alertname', 'service', 'tenant_id'] },
  ]);
  // No secret in the file: receivers read theirs from files.
  const text = readFileSync(ALERTMANAGER_CONFIG, 'utf8');
  assert.match(text, /routing_key_file: \/etc\/alertmanager\/secrets\//);
  assert.match(text, /api_url_file: \/etc\/alertmanager\/secrets\//);
  assert.doesNotMatch(text, /routing_key:|api_url:|hooks\.slack\.com/);
});
