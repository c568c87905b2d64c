import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheusName, unitSuffix } from '../../src/prometheus/naming';
import * as semconv from '../../src/core/semconv';
import type { MetricSpec } from '../../src/core/semconv';

const specs = Object.entries(semconv).filter(
  (e): e is [string, MetricSpec] => e[0].startsWith('METRIC_') && typeof e[1] === 'object' && e[1] !== null && 'promName' in e[1]
);

test('the catalog has the seed, spanmetrics and health families', () => {
  const names = specs.map(([, s]) => s.promName);
  for (const n of [
    'http_requests_total',
    'http_request_duration_seconds',
    'http_request_size_bytes',
    'errors_total',
    'traces_span_metrics_calls_total',
    'traces_span_metrics_duration_milliseconds',
    'tenantscope_tenants_folded_total',
    'cache_requests_total',
    'database_query_duration_seconds',
    'database_slow_queries_total',
    'database_connections_active',
    'integration_calls_total',
    'integration_duration_seconds',
    'queue_processing_duration_seconds',
    'queue_size',
    'websocket_connections_active',
    'http_response_first_byte_seconds',
    'conversations_started_total',
    'conversations_completed_total',
    'conversations_active_total',
    'messages_processed_total',
  ]) {
    assert.ok(names.includes(n), `${n} missing from the catalog`);
  }
});

test('every catalog promName is what the in-process exporter serves (Collector translation of name + unit)', () => {
  for (const [key, spec] of specs) {
    const kind = spec.kind !== undefined ? 'gauge' : spec.boundaries !== undefined ? 'histogram' : 'counter';
    assert.equal(prometheusName(spec.name, spec.unit, kind), spec.promName, key);
  }
});

test('unit words: s, ms, By; an existing suffix is not repeated', () => {
  assert.equal(prometheusName('http.server.request.duration', 's', 'histogram'), 'http_server_request_duration_seconds');
  assert.equal(prometheusName('http_request_duration_seconds', 's', 'histogram'), 'http_request_duration_seconds');
  assert.equal(prometheusName('traces.span.metrics.duration', 'ms', 'histogram'), 'traces_span_metrics_duration_milliseconds');
  assert.equal(prometheusName('http.request.size', 'By', 'histogram'), 'http_request_size_bytes');
  assert.equal(prometheusName('http_request_size_bytes', 'By', 'histogram'), 'http_request_size_bytes');
  assert.equal(prometheusName('net.io', 'By', 'counter'), 'net_io_bytes_total');
});

test('{annotations} are dropped, alone or before a per-unit', () => {
  assert.equal(prometheusName('gen_ai.client.token.usage', '{token}', 'histogram'), 'gen_ai_client_token_usage');
  assert.equal(prometheusName('tokens', '{token}', 'counter'), 'tokens_total');
  assert.equal(prometheusName('requests.rate', '{request}/s', 'gauge'), 'requests_rate_per_second');
  assert.equal(unitSuffix('{token}', false), '');
});

test('unit 1 is ratio on gauges and nothing on counters', () => {
  assert.equal(prometheusName('cpu.utilization', '1', 'gauge'), 'cpu_utilization_ratio');
  assert.equal(prometheusName('cache.hits', '1', 'counter'), 'cache_hits_total');
});

test('monotonic counters end in _total exactly once', () => {
  assert.equal(prometheusName('http_requests', '', 'counter'), 'http_requests_total');
  assert.equal(prometheusName('http_requests_total', '', 'counter'), 'http_requests_total');
  assert.equal(prometheusName('queue.depth', '', 'gauge'), 'queue_depth');
});

test('per-units follow the Collector: By/s is bytes_per_second', () => {
  assert.equal(prometheusName('throughput', 'By/s', 'gauge'), 'throughput_bytes_per_second');
});

test('invalid characters become underscores, runs collapse, a leading digit is prefixed', () => {
  assert.equal(prometheusName('a.b-c/d', '', 'gauge'), 'a_b_c_d');
  assert.equal(prometheusName('a..b', '', 'gauge'), 'a_b');
  assert.equal(prometheusName('5xx.count', '', 'counter'), '_5xx_count_total');
});
