/**
 * The stack's Grafana dashboards, written with Grafana's Foundation SDK (typed builders). `npm run dashboards`
 * writes one JSON file per dashboard into deploy/grafana/dashboards/, which is what Grafana loads (the
 * provisioning file deploy/grafana/provisioning/dashboards/tenantscope.yaml points at that folder).
 *
 * One concern per dashboard. Panels read the recording rules of deploy/prometheus/rules where one exists (fast,
 * and the same numbers the alerts see), the raw families of docs/metrics.md otherwise. test/e2e/dashboards.test.ts
 * runs every query here against a real Prometheus scraping the example service and fails on an empty result
 * (except for the Collector's own and its receivers' metrics: no Collector binary there), and fails when the JSON
 * in the repository is not what this file generates.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder,
  DashboardLinkBuilder,
  QueryVariableBuilder,
  TextBoxVariableBuilder,
  VariableHide,
  VariableRefresh,
  type Dashboard,
  type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The Prometheus data source provisioned in deploy/grafana/provisioning/datasources/datasources.yaml. */
export const PROMETHEUS = { type: 'prometheus', uid: 'prometheus' };

interface Query {
  expr: string;
  legend: string;
  /** Ask Prometheus for exemplars (trace ids on histogram buckets: Grafana links them to Jaeger). */
  exemplar?: boolean;
}

interface Panel {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** `stat` for a single current number per series; `timeseries` by default. */
  kind?: 'stat' | 'timeseries';
  /** Adds a link to Jaeger's search for the series' service (and tenant) over the panel's time range. */
  jaegerLink?: boolean;
}

interface Spec {
  uid: string;
  title: string;
  description: string;
  /** Template variables the panels use: `service`, `tenant` (label values of http_requests_total), `job`. */
  variables: ('service' | 'tenant' | 'job')[];
  panels: Panel[];
}

const SEL = 'service=~"$service", tenant_id=~"$tenant"';
const SPAN_SEL = 'service_name=~"$service", tenant_id=~"$tenant"';

/**
 * Jaeger search for the clicked series: Jaeger takes microseconds, Grafana's ${__from}/${__to} are
 * milliseconds. The service comes from the series' `service` label; the tenant from `tenant_id` as a tag.
 */
const JAEGER_SEARCH =
  '${jaeger_url}/search?service=${__field.labels.service}&tags=%7B%22tenant.id%22%3A%22${__field.labels.tenant_id}%22%7D&start=${__from}000&end=${__to}000&limit=20';

export const SPECS: Spec[] = [
  {
    uid: 'tenantscope-red',
    title: 'tenantscope / Service RED overview',
    description: 'Rate, errors and duration per tenant and per service (http_requests_total, http_request_duration_seconds, errors_total), the latency SLO burn rate, and server operations from the span metrics.',
    variables: ['service', 'tenant'],
    panels: [
      {
        title: 'Requests per second, per tenant',
        description: 'tenant:http_requests:rate5m',
        unit: 'reqps',
        queries: [{ expr: `sum by (tenant_id) (tenant:http_requests:rate5m{${SEL}})`, legend: '{{tenant_id}}' }],
      },
      {
        title: '5xx ratio per tenant',
        description: 'tenant:http_error_ratio:rate5m: share of requests answered 5xx (404s are not errors). TenantErrorRatioHigh warns at 5%, pages at 20%.',
        unit: 'percentunit',
        queries: [{ expr: `tenant:http_error_ratio:rate5m{${SEL}}`, legend: '{{tenant_id}} ({{service}})' }],
      },
      {
        title: 'Latency p50 / p95 / p99 per tenant',
        description: 'Bucket estimates from http_request_duration_seconds. Click a series for its traces in Jaeger.',
        unit: 's',
        jaegerLink: true,
        queries: [
          { expr: `tenant:http_request_duration_seconds:p50_5m{${SEL}}`, legend: 'p50 {{tenant_id}}' },
          { expr: `tenant:http_request_duration_seconds:p95_5m{${SEL}}`, legend: 'p95 {{tenant_id}}' },
          { expr: `tenant:http_request_duration_seconds:p99_5m{${SEL}}`, legend: 'p99 {{tenant_id}}' },
        ],
      },
      {
        title: 'Request duration buckets (with exemplars)',
        description: 'Requests per second by duration bucket; exemplar dots link to the trace that produced them.',
        unit: 'reqps',
        jaegerLink: true,
        queries: [{ expr: `sum by (service, tenant_id, le) (rate(http_request_duration_seconds_bucket{${SEL}}[$__rate_interval]))`, legend: '{{le}}', exemplar: true }],
      },
      {
        title: 'Requests by endpoint and status',
        description: 'http_requests_total by route template and status code.',
        unit: 'reqps',
        queries: [{ expr: `sum by (method, endpoint, status) (rate(http_requests_total{${SEL}}[$__rate_interval]))`, legend: '{{method}} {{endpoint}} {{status}}' }],
      },
      {
        title: 'Streamed replies: time to first byte p95',
        description: 'http_response_first_byte_seconds: from the request to the first body byte of a streamed response (server-sent events), by endpoint. What a chat user waits before text appears.',
        unit: 's',
        queries: [{ expr: `histogram_quantile(0.95, sum by (service, endpoint, le) (rate(http_response_first_byte_seconds_bucket{${SEL}}[$__rate_interval])))`, legend: '{{endpoint}}' }],
      },
      {
        title: 'Errors by type',
        description: 'tenant_error_type:errors:rate5m (errors_total): 5xx answers and thrown errors of server and consumer spans.',
        unit: 'short',
        queries: [{ expr: `sum by (tenant_id, error_type) (tenant_error_type:errors:rate5m{${SEL}})`, legend: '{{tenant_id}} {{error_type}}' }],
      },
      {
        title: 'Service: requests, 5xx ratio, p95',
        description: 'All tenants together: service:http_requests:rate5m, service:http_error_ratio:rate5m, service:http_request_duration_seconds:p95_5m.',
        unit: 'short',
        kind: 'stat',
        queries: [
          { expr: 'service:http_requests:rate5m{service=~"$service"}', legend: '{{service}} req/s' },
          { expr: 'service:http_error_ratio:rate5m{service=~"$service"}', legend: '{{service}} 5xx ratio' },
          { expr: 'service:http_request_duration_seconds:p95_5m{service=~"$service"}', legend: '{{service}} p95 (s)' },
        ],
      },
      {
        title: 'Latency SLO burn rate (99% within 2.5 s)',
        description: 'Share of requests slower than 2.5 s divided by the 1% budget, per window. LatencySLOBudgetBurn pages at 14.4 (1h) or 6 (6h), notifies at 3 (1d) or 1 (3d).',
        unit: 'short',
        queries: [
          { expr: 'service:http_request_slow:ratio_rate1h{service=~"$service"} / 0.01', legend: '{{service}} 1h' },
          { expr: 'service:http_request_slow:ratio_rate6h{service=~"$service"} / 0.01', legend: '{{service}} 6h' },
          { expr: 'service:http_request_slow:ratio_rate1d{service=~"$service"} / 0.01', legend: '{{service}} 1d' },
          { expr: 'service:http_request_slow:ratio_rate3d{service=~"$service"} / 0.01', legend: '{{service}} 3d' },
        ],
      },
      {
        title: 'Server operations (span metrics)',
        description: 'traces_span_metrics_calls_total of SERVER spans by operation: what Jaeger\'s Monitor tab shows, per tenant.',
        unit: 'reqps',
        queries: [{ expr: `sum by (span_name) (rate(traces_span_metrics_calls_total{${SPAN_SEL}, span_kind="SPAN_KIND_SERVER"}[$__rate_interval]))`, legend: '{{span_name}}' }],
      },
    ],
  },
  {
    uid: 'tenantscope-cost',
    title: 'tenantscope / Tenant cost and tokens',
    description: 'Model spend, tokens and calls per tenant and model (model_api_* families), cost per conversation, time to first token and budgets.',
    variables: ['tenant'],
    panels: [
      {
        title: 'Spend per tenant, last hour (USD)',
        description: 'tenant:model_api_cost_cents:increase1h / 100. ModelSpendSpike compares it with the day.',
        unit: 'currencyUSD',
        queries: [{ expr: 'tenant:model_api_cost_cents:increase1h{tenant_id=~"$tenant"} / 100', legend: '{{tenant_id}}' }],
      },
      {
        title: 'Spend per tenant, last day (USD)',
        description: 'tenant:model_api_cost_cents:increase1d / 100.',
        unit: 'currencyUSD',
        kind: 'stat',
        queries: [{ expr: 'tenant:model_api_cost_cents:increase1d{tenant_id=~"$tenant"} / 100', legend: '{{tenant_id}}' }],
      },
      {
        title: 'Top models by spend, last hour (USD)',
        description: 'tenant_model:model_api_cost_cents:increase1h summed over the selected tenants.',
        unit: 'currencyUSD',
        queries: [{ expr: 'topk(10, sum by (provider, model) (tenant_model:model_api_cost_cents:increase1h{tenant_id=~"$tenant"})) / 100', legend: '{{provider}} {{model}}' }],
      },
      {
        title: 'Tokens per second by type',
        description: 'tenant:model_api_tokens:rate5m: input (uncached), cache_read, cache_write, output (reasoning included).',
        unit: 'short',
        queries: [{ expr: 'sum by (tenant_id, token_type) (tenant:model_api_tokens:rate5m{tenant_id=~"$tenant"})', legend: '{{tenant_id}} {{token_type}}' }],
      },
      {
        title: 'Tokens, last day',
        description: 'tenant:model_api_tokens:increase1d.',
        unit: 'short',
        kind: 'stat',
        queries: [{ expr: 'sum by (tenant_id, token_type) (tenant:model_api_tokens:increase1d{tenant_id=~"$tenant"})', legend: '{{tenant_id}} {{token_type}}' }],
      },
      {
        title: 'Model calls by status',
        description: 'tenant_model:model_api_calls:rate5m.',
        unit: 'reqps',
        queries: [{ expr: 'sum by (provider, model, status) (tenant_model:model_api_calls:rate5m{tenant_id=~"$tenant"})', legend: '{{model}} {{status}}' }],
      },
      {
        title: 'Model call latency p95',
        description: 'model_api_duration_seconds: request until the last byte (a stream\'s last chunk). Click for the traces.',
        unit: 's',
        queries: [{ expr: 'histogram_quantile(0.95, sum by (provider, model, le) (rate(model_api_duration_seconds_bucket{tenant_id=~"$tenant"}[$__rate_interval])))', legend: '{{model}}' }],
      },
      {
        title: 'Time to first token p95',
        description: 'model_api_time_to_first_token_seconds, streamed calls only.',
        unit: 's',
        queries: [{ expr: 'histogram_quantile(0.95, sum by (provider, model, le) (rate(model_api_time_to_first_token_seconds_bucket{tenant_id=~"$tenant"}[$__rate_interval])))', legend: '{{model}}' }],
      },
      {
        title: 'Cost per conversation, last hour (USD)',
        description: 'Model spend divided by conversations started (conversations_started_total), per tenant.',
        unit: 'currencyUSD',
        queries: [
          {
            expr: 'sum by (tenant_id) (increase(model_api_cost_cents_total{tenant_id=~"$tenant"}[1h])) / 100 / sum by (tenant_id) (increase(conversations_started_total{tenant_id=~"$tenant"}[1h]))',
            legend: '{{tenant_id}}',
          },
        ],
      },
      {
        title: 'Monthly budget used',
        description: 'tenant:model_cost_cents:month_to_date (spend since the UTC month began, budget.rules.yml) against tenant_model_budget_cents (TENANTSCOPE_BUDGETS_FILE). TenantModelBudgetForecastExceeded / TenantModelBudgetExceeded.',
        unit: 'percentunit',
        queries: [{ expr: 'tenant:model_cost_cents:month_to_date{tenant_id=~"$tenant"} / on (tenant_id) max by (tenant_id) (tenant_model_budget_cents{tenant_id=~"$tenant"})', legend: '{{tenant_id}}' }],
      },
    ],
  },
  {
    uid: 'tenantscope-cache-db',
    title: 'tenantscope / Cache and database',
    description: 'Cache hit rates (cache_requests_total), database query latency and slow queries from the client side, server-side connections and query rates from the Collector\'s receivers.',
    variables: ['tenant'],
    panels: [
      {
        title: 'Cache hit rate by cache type',
        description: 'cache_hit_rate_percent (recording rule over cache_requests_total). CacheHitRateCollapse fires below half the daily average.',
        unit: 'percent',
        queries: [{ expr: 'cache_hit_rate_percent', legend: '{{cache_type}}' }],
      },
      {
        title: 'Cache lookups by result',
        description: 'cache_requests_total for the selected tenants, by cache type, level and hit/miss.',
        unit: 'reqps',
        queries: [{ expr: 'sum by (cache_type, level, result) (rate(cache_requests_total{tenant_id=~"$tenant"}[$__rate_interval]))', legend: '{{cache_type}} {{level}} {{result}}' }],
      },
      {
        title: 'Redis command latency p95 (span metrics)',
        description: 'traces_span_metrics_duration_milliseconds of the ioredis CLIENT spans, per command, for the selected tenants.',
        unit: 'ms',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (span_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{span_kind="SPAN_KIND_CLIENT", span_name=~"(?i)(get|set|del|mget|hget|hgetall|exists|expire)", tenant_id=~"$tenant"}[$__rate_interval])))',
            legend: '{{span_name}}',
          },
        ],
      },
      {
        title: 'PostgreSQL queries per second, per tenant (span metrics)',
        description: 'pg query spans (traces_span_metrics_calls_total) carry the request\'s tenant.',
        unit: 'reqps',
        queries: [{ expr: 'sum by (tenant_id) (rate(traces_span_metrics_calls_total{span_kind="SPAN_KIND_CLIENT", span_name=~"pg.query:.*", tenant_id=~"$tenant"}[$__rate_interval]))', legend: '{{tenant_id}}' }],
      },
      {
        title: 'Database operation latency p95 (client)',
        description: 'pg query spans by span name (traces_span_metrics_duration_milliseconds). The pg instrumentation\'s own db_client_operation_duration_seconds is off by default (TENANTSCOPE_UPSTREAM_METRICS).',
        unit: 'ms',
        queries: [{ expr: 'histogram_quantile(0.95, sum by (span_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{span_kind="SPAN_KIND_CLIENT", span_name=~"pg.query:.*", tenant_id=~"$tenant"}[$__rate_interval])))', legend: '{{span_name}}' }],
      },
      {
        title: 'Query latency p95 by table',
        description: 'database_query_duration_seconds (the seed\'s family) by database, operation and table.',
        unit: 's',
        queries: [{ expr: 'histogram_quantile(0.95, sum by (database_type, operation, table, le) (rate(database_query_duration_seconds_bucket[$__rate_interval])))', legend: '{{database_type}} {{operation}} {{table}}' }],
      },
      {
        title: 'Slow queries per second by table',
        description: 'database_type_table:database_slow_queries:rate5m (queries over TENANTSCOPE_SLOW_QUERY_MS). DatabaseSlowQueries fires above 0.05/s.',
        unit: 'short',
        queries: [{ expr: 'database_type_table:database_slow_queries:rate5m', legend: '{{database_type}} {{table}}' }],
      },
      {
        title: 'Client connection pools',
        description: 'database_connections_active, _idle and _waiting: the pg and mongodb pools of the instrumented processes, read at collection time.',
        unit: 'short',
        queries: [
          { expr: 'sum by (database_type, database_name) (database_connections_active)', legend: '{{database_type}} {{database_name}} active' },
          { expr: 'sum by (database_type, database_name) (database_connections_idle)', legend: '{{database_type}} {{database_name}} idle' },
          { expr: 'sum by (database_type, database_name) (database_connections_waiting)', legend: '{{database_type}} {{database_name}} waiting' },
        ],
      },
      {
        title: 'Server connections and queries per second',
        description: 'database_connections_current and database_queries_per_second: the Collector\'s postgresql and redis receivers.',
        unit: 'short',
        queries: [
          { expr: 'database_connections_current', legend: '{{database}} connections' },
          { expr: 'database_queries_per_second', legend: '{{database}} queries/s' },
        ],
      },
    ],
  },
  {
    uid: 'tenantscope-live',
    title: 'tenantscope / Queues, WebSockets and conversations',
    description: 'Queue depth and processing time, live WebSocket connections, conversations and messages per tenant.',
    variables: ['tenant'],
    panels: [
      {
        title: 'Queue depth',
        description: 'message_queue_depth (queue_size summed over tenants). QueueBacklogGrowing fires when predict_linear passes 1000 within the hour.',
        unit: 'short',
        queries: [{ expr: 'message_queue_depth', legend: '{{queue_name}}' }],
      },
      {
        title: 'Queue depth per queue and tenant',
        description: 'queue_size (observeQueueDepth): all tenants, since a queue shared by tenants is observed without one (tenant_id="unknown"); per-tenant queues show their tenant.',
        unit: 'short',
        queries: [{ expr: 'sum by (queue_name, tenant_id) (queue_size)', legend: '{{queue_name}} {{tenant_id}}' }],
      },
      {
        title: 'Message processing p95',
        description: 'queue_processing_duration_seconds by queue and message type.',
        unit: 's',
        queries: [{ expr: 'histogram_quantile(0.95, sum by (queue_name, message_type, le) (rate(queue_processing_duration_seconds_bucket[$__rate_interval])))', legend: '{{queue_name}} {{message_type}}' }],
      },
      {
        title: 'Live WebSocket connections',
        description: 'websocket_connections_active per tenant.',
        unit: 'short',
        queries: [{ expr: 'sum by (tenant_id) (websocket_connections_active{tenant_id=~"$tenant"})', legend: '{{tenant_id}}' }],
      },
      {
        title: 'Active conversations',
        description: 'conversations_active_total by tenant and channel.',
        unit: 'short',
        queries: [{ expr: 'sum by (tenant_id, channel) (conversations_active_total{tenant_id=~"$tenant"})', legend: '{{tenant_id}} {{channel}}' }],
      },
      {
        title: 'Conversations started and completed',
        description: 'conversations_started_total and conversations_completed_total (by resolution status), per second.',
        unit: 'short',
        queries: [
          { expr: 'sum by (tenant_id) (rate(conversations_started_total{tenant_id=~"$tenant"}[$__rate_interval]))', legend: 'started {{tenant_id}}' },
          { expr: 'sum by (tenant_id, resolution_status) (rate(conversations_completed_total{tenant_id=~"$tenant"}[$__rate_interval]))', legend: 'completed {{tenant_id}} {{resolution_status}}' },
        ],
      },
      {
        title: 'Messages processed',
        description: 'messages_processed_total by direction and message type.',
        unit: 'short',
        queries: [{ expr: 'sum by (direction, message_type) (rate(messages_processed_total{tenant_id=~"$tenant"}[$__rate_interval]))', legend: '{{direction}} {{message_type}}' }],
      },
    ],
  },
  {
    uid: 'tenantscope-use',
    title: 'tenantscope / Node runtime and hosts (USE)',
    description: 'Utilisation, saturation and errors of the Node.js processes (event loop, heap, GC, CPU) and of the machines (the Collector\'s host_metrics receiver).',
    variables: ['job'],
    panels: [
      {
        title: 'Event-loop delay p99',
        description: 'nodejs_eventloop_delay_p99_seconds: saturation of the event loop.',
        unit: 's',
        queries: [{ expr: 'nodejs_eventloop_delay_p99_seconds{job=~"$job"}', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'Event-loop utilisation',
        description: 'nodejs_eventloop_utilization_ratio.',
        unit: 'percentunit',
        queries: [{ expr: 'nodejs_eventloop_utilization_ratio{job=~"$job"}', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'Heap used',
        description: 'v8js_memory_heap_used_bytes summed over heap spaces.',
        unit: 'bytes',
        queries: [{ expr: 'sum by (job, instance) (v8js_memory_heap_used_bytes{job=~"$job"})', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'GC time per second',
        description: 'v8js_gc_duration_seconds: share of time spent collecting garbage.',
        unit: 'percentunit',
        queries: [{ expr: 'sum by (job, instance) (rate(v8js_gc_duration_seconds_sum{job=~"$job"}[$__rate_interval]))', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'Process CPU',
        description: 'process_cpu_time_seconds_total per second by state (1 = one core).',
        unit: 'short',
        queries: [{ expr: 'sum by (job, instance, process_cpu_state) (rate(process_cpu_time_seconds_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} {{instance}} {{process_cpu_state}}' }],
      },
      {
        title: 'Process memory (RSS)',
        description: 'process_memory_usage (bytes; upstream gives it no unit, so no _bytes word).',
        unit: 'bytes',
        queries: [{ expr: 'sum by (job, instance) (process_memory_usage{job=~"$job"})', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'Host CPU, memory and disk use',
        description: 'system_cpu_usage_percent, system_memory_usage_percent, system_disk_usage_percent (recording rules over the host_metrics receiver).',
        unit: 'percent',
        queries: [
          { expr: 'system_cpu_usage_percent', legend: 'cpu {{host_name}}' },
          { expr: 'system_memory_usage_percent', legend: 'memory {{host_name}}' },
          { expr: 'system_disk_usage_percent', legend: 'disk {{host_name}} {{mount_point}}' },
        ],
      },
      {
        title: 'Host network',
        description: 'system_network_io_bytes_total per second, by direction.',
        unit: 'Bps',
        queries: [{ expr: 'sum by (host_name, direction) (rate(system_network_io_bytes_total[$__rate_interval]))', legend: '{{host_name}} {{direction}}' }],
      },
    ],
  },
  {
    uid: 'tenantscope-pipeline',
    title: 'tenantscope / Telemetry pipeline',
    description: 'The telemetry pipeline\'s own health: spans tenantscope saw, exported and dropped, labels folded by cardinality limits, export failures, the Collector\'s receivers, exporters and queues, and scrape health.',
    variables: ['job'],
    panels: [
      {
        title: 'Spans seen, exported and dropped',
        description: 'tenantscope_spans_seen_total, tenantscope_spans_exported_total (by reason: sampled or a keep rule), tenantscope_spans_dropped_total (not_sampled, export_off).',
        unit: 'short',
        queries: [
          { expr: 'sum by (job) (rate(tenantscope_spans_seen_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} seen' },
          { expr: 'sum by (job, reason) (rate(tenantscope_spans_exported_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} exported ({{reason}})' },
          { expr: 'sum by (job, reason) (rate(tenantscope_spans_dropped_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} dropped ({{reason}})' },
        ],
      },
      {
        title: 'Span export outcomes',
        description: 'tenantscope_export_spans_attempted_total and tenantscope_export_spans_total by outcome (delivered, failed, dropped) and reason (refused, timeout, http_503, queue_full, …). TelemetrySpanExportFailing / TelemetrySpansDropped.',
        unit: 'short',
        queries: [
          { expr: 'sum by (job) (rate(tenantscope_export_spans_attempted_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} attempted' },
          { expr: 'sum by (job, outcome, reason) (rate(tenantscope_export_spans_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} {{outcome}} {{reason}}' },
        ],
      },
      {
        title: 'Span export queue',
        description: 'tenantscope_export_queue_spans: spans waiting for the exporter now (full at OTEL_BSP_MAX_QUEUE_SIZE: then spans drop, queue_full).',
        unit: 'short',
        queries: [{ expr: 'sum by (job, instance) (tenantscope_export_queue_spans{job=~"$job"})', legend: '{{job}} {{instance}}' }],
      },
      {
        title: 'Metric point and log record exports',
        description: 'tenantscope_export_metric_points_total by outcome and reason (OTLP metric pushes; TelemetryMetricExportFailing); tenantscope_logs_exported_total and tenantscope_logs_dropped_total by reason (OTEL_LOGS_EXPORTER=otlp; TelemetryLogsDropped).',
        unit: 'short',
        queries: [
          { expr: 'sum by (job, outcome, reason) (rate(tenantscope_export_metric_points_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} points {{outcome}} {{reason}}' },
          { expr: 'sum by (job) (rate(tenantscope_logs_exported_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} logs exported' },
          { expr: 'sum by (job, reason) (rate(tenantscope_logs_dropped_total{job=~"$job"}[$__rate_interval]))', legend: '{{job}} logs dropped {{reason}}' },
        ],
      },
      {
        title: 'Labels folded by cardinality limits, last hour',
        description: 'tenantscope_tenants_folded_total, tenantscope_endpoints_folded_total, tenantscope_labels_folded_total (by label), tenantscope_series_folded_total (the series budget; 0 until a family reaches it). Non-zero: a limit is too low or someone sends hostile ids. TelemetryLabelsFolded / TelemetrySeriesBudgetReached.',
        unit: 'short',
        kind: 'stat',
        queries: [
          { expr: 'sum by (job) (increase(tenantscope_tenants_folded_total{job=~"$job"}[1h]))', legend: '{{job}} tenants' },
          { expr: 'sum by (job) (increase(tenantscope_endpoints_folded_total{job=~"$job"}[1h]))', legend: '{{job}} endpoints' },
          { expr: 'sum by (job, label) (increase(tenantscope_labels_folded_total{job=~"$job"}[1h]))', legend: '{{job}} {{label}}' },
          {
            expr: 'sum by (job) (increase(tenantscope_series_folded_total{job=~"$job"}[1h])) or sum by (job) (tenantscope_spans_seen_total{job=~"$job"}) * 0',
            legend: '{{job}} series budget',
          },
        ],
      },
      {
        title: 'Collector: spans in and out',
        description: 'otelcol_receiver_accepted_spans_total, otelcol_receiver_refused_spans_total (memory_limiter), otelcol_exporter_sent_spans_total, otelcol_exporter_send_failed_spans_total.',
        unit: 'short',
        queries: [
          { expr: 'sum by (receiver) (rate(otelcol_receiver_accepted_spans_total[$__rate_interval]))', legend: 'accepted {{receiver}}' },
          { expr: 'sum by (receiver) (rate(otelcol_receiver_refused_spans_total[$__rate_interval]))', legend: 'refused {{receiver}}' },
          { expr: 'sum by (exporter) (rate(otelcol_exporter_sent_spans_total[$__rate_interval]))', legend: 'sent {{exporter}}' },
          { expr: 'sum by (exporter) (rate(otelcol_exporter_send_failed_spans_total[$__rate_interval]))', legend: 'failed {{exporter}}' },
        ],
      },
      {
        title: 'Collector: metric points in and out',
        description: 'otelcol_receiver_accepted_metric_points_total, otelcol_exporter_sent_metric_points_total.',
        unit: 'short',
        queries: [
          { expr: 'sum by (receiver) (rate(otelcol_receiver_accepted_metric_points_total[$__rate_interval]))', legend: 'accepted {{receiver}}' },
          { expr: 'sum by (exporter) (rate(otelcol_exporter_sent_metric_points_total[$__rate_interval]))', legend: 'sent {{exporter}}' },
        ],
      },
      {
        title: 'Collector: exporter queue use',
        description: 'otelcol_exporter_queue_size / otelcol_exporter_queue_capacity.',
        unit: 'percentunit',
        queries: [{ expr: 'max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)', legend: '{{exporter}}' }],
      },
      {
        title: 'Scrape targets',
        description: 'up and scrape_duration_seconds of every Prometheus target. TargetDown fires when up is 0.',
        unit: 'short',
        queries: [
          { expr: 'up', legend: 'up {{job}} {{instance}}' },
          { expr: 'scrape_duration_seconds', legend: 'scrape s {{job}} {{instance}}' },
        ],
      },
    ],
  },
];

function variable(name: 'service' | 'tenant' | 'job'): cog.Builder<VariableModel> {
  const source = { service: ['http_requests_total', 'service'], tenant: ['http_requests_total', 'tenant_id'], job: ['target_info', 'job'] }[name];
  const definition = `label_values(${source[0]}, ${source[1]})`;
  return new QueryVariableBuilder(name)
    .label(name)
    .datasource(PROMETHEUS)
    .query(definition)
    .definition(definition)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .sort(1);
}

/** Builds one dashboard's JSON model. */
export function buildDashboard(spec: Spec): Dashboard {
  const b = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['tenantscope'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser');
  for (const v of spec.variables) b.withVariable(variable(v));
  b.withVariable(
    new TextBoxVariableBuilder('jaeger_url').label('Jaeger URL').description('Where Jaeger\'s UI answers for your browser; latency panels link there.').defaultValue('http://localhost:16686').hide(VariableHide.HideVariable)
  );
  spec.panels.forEach((p, i) => {
    const panel =
      p.kind === 'stat'
        ? new StatPanelBuilder()
        : new TimeseriesPanelBuilder().legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom));
    panel
      .id(i + 1)
      .title(p.title)
      .description(p.description)
      .unit(p.unit)
      .datasource(PROMETHEUS)
      .gridPos({ x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 });
    p.queries.forEach((q, j) => {
      const t = new DataqueryBuilder().expr(q.expr).legendFormat(q.legend).refId(String.fromCharCode(65 + j)).datasource(PROMETHEUS);
      if (q.exemplar) t.exemplar(true);
      panel.withTarget(t);
    });
    if (p.jaegerLink) panel.dataLinks([new DashboardLinkBuilder('Traces in Jaeger').url(JAEGER_SEARCH).targetBlank(true)]);
    b.withPanel(panel);
  });
  return b.build();
}

/** The JSON text of a dashboard file, exactly as committed. */
export function dashboardJson(spec: Spec): string {
  return `${JSON.stringify(buildDashboard(spec), null, 2)}\n`;
}

/** File name of a dashboard in deploy/grafana/dashboards/. */
export function dashboardFile(spec: Spec): string {
  return `${spec.uid}.json`;
}

if (require.main === module) {
  // build/deploy/grafana/dashboards.js → deploy/grafana/dashboards/
  const out = join(__dirname, '..', '..', '..', 'deploy', 'grafana', 'dashboards');
  for (const spec of SPECS) {
    writeFileSync(join(out, dashboardFile(spec)), dashboardJson(spec));
    console.log(`wrote deploy/grafana/dashboards/${dashboardFile(spec)} (${spec.panels.length} panels)`);
  }
}
