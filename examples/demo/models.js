'use strict';
// The demo's model columns: model calls, tokens and cost per tenant, read only from /metrics, and the check of
// those figures against what the model stand-in says it returned (its ledger) priced by the price source
// tenantscope uses (@pydantic/genai-prices), exactly: cents as whole cents plus pico-dollars, no float sums.
const { calcPrice } = require('@pydantic/genai-prices');

/**
 * tenant → { ok, errors, byProvider: Map(provider → {ok, errors}), input, cacheRead, cacheWrite, output, cents }
 * from the model families of /metrics.
 */
function modelFigures(samples) {
  const out = new Map();
  const row = (t) => {
    let r = out.get(t);
    if (r === undefined) out.set(t, (r = { ok: 0, errors: 0, byProvider: new Map(), input: 0, cacheRead: 0, cacheWrite: 0, output: 0, cents: 0, centsBy: new Map() }));
    return r;
  };
  for (const s of samples) {
    const l = s.labels;
    if (s.name === 'model_api_calls_total') {
      const r = row(l.tenant_id);
      let p = r.byProvider.get(l.provider);
      if (p === undefined) r.byProvider.set(l.provider, (p = { ok: 0, errors: 0 }));
      const key = l.status === 'success' ? 'ok' : 'errors';
      r[key] += s.value;
      p[key] += s.value;
    } else if (s.name === 'model_api_tokens_total') {
      const key = { input: 'input', cache_read: 'cacheRead', cache_write: 'cacheWrite', output: 'output' }[l.token_type];
      if (key !== undefined) row(l.tenant_id)[key] += s.value;
    } else if (s.name === 'model_api_cost_cents_total') {
      row(l.tenant_id).cents += s.value;
      row(l.tenant_id).centsBy.set(`${l.provider} ${l.model}`, s.value);
    }
  }
  return out;
}

/** Table cells for a tenant: OpenAI calls (replies) ok/errors, Anthropic calls (summaries) ok/errors, tokens in (cached)/out, cost. */
function modelCells(f) {
  if (f === undefined) return ['-', '-', '-', '-'];
  const k = (n) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n));
  const calls = (provider) => {
    const p = f.byProvider.get(provider) ?? { ok: 0, errors: 0 };
    return `${p.ok}/${p.errors}`;
  };
  return [calls('openai'), calls('anthropic'), `${k(f.input + f.cacheRead + f.cacheWrite)} (${k(f.cacheRead)} cached)/${k(f.output)}`, `${f.cents.toFixed(4)} ¢`];
}
const MODEL_HEAD = ['openai ok/err', 'anthropic ok/err', 'model tokens in/out', 'model cost'];

/** Pico-dollars for one ledger entry at the source's prices (uncached input, cache reads, output). */
function picoOf(e) {
  const providerId = e.provider === 'anthropic' ? 'anthropic' : 'openai';
  const found = calcPrice({ input_tokens: 0, output_tokens: 0 }, e.model, { providerId });
  if (found === null) throw new Error(`${e.provider} ${e.model} has no price in @pydantic/genai-prices`);
  const p = found.model_price;
  const at = (k, fallback) => BigInt(Math.round((typeof p[k] === 'number' ? p[k] : (fallback ?? 0)) * 1e6));
  return BigInt(e.input) * at('input_mtok') + BigInt(e.cacheRead) * at('cache_read_mtok', p.input_mtok) + BigInt(e.output) * at('output_mtok');
}

/** Differences between /metrics and the stand-in's ledger, as sentences. */
function compareModels(figures, ledger) {
  const problems = [];
  for (const [tenant, entries] of Object.entries(ledger)) {
    const got = figures.get(tenant);
    const want = { calls: 0, input: 0, cacheRead: 0, output: 0 };
    for (const e of Object.values(entries)) {
      want.calls += e.calls;
      want.input += e.input;
      want.cacheRead += e.cacheRead;
      want.output += e.output;
    }
    if (got === undefined) {
      problems.push(`${tenant}: no model series on /metrics`);
      continue;
    }
    for (const k of ['input', 'cacheRead', 'output']) {
      if (got[k] !== want[k]) problems.push(`${tenant}: /metrics counts ${got[k]} ${k} tokens, the model stand-in returned ${want[k]}`);
    }
    if (got.ok !== want.calls) problems.push(`${tenant}: /metrics counts ${got.ok} successful model calls, the stand-in answered ${want.calls}`);
    // Each (provider, model) series exactly: whole cents + pico-dollar remainder / 1e10, as tenantscope keeps it.
    for (const e of Object.values(entries)) {
      const pico = picoOf(e);
      const cents = Number(pico / 10_000_000_000n) + Number(pico % 10_000_000_000n) / 1e10;
      const served = got.centsBy.get(`${e.provider} ${e.model}`);
      if (served !== cents) problems.push(`${tenant} ${e.provider} ${e.model}: /metrics says ${served} cents, the stand-in's usage at list prices is ${cents}`);
    }
  }
  return problems;
}

module.exports = { modelFigures, modelCells, MODEL_HEAD, compareModels };
