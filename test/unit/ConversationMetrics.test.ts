/**
 * The conversation API (`conversationStarted`, `conversationCompleted`, `messageProcessed`) through the public
 * functions, as an app calls them: a real TracerProvider with the tenant processor, an AsyncLocalStorage context
 * manager, and the store read back through its OTLP export path. Stand-in: the started pipeline is reduced to what
 * the API reaches through src/instance.ts (registry, recorder).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ROOT_CONTEXT, context, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { conversationCompleted, conversationStarted, messageProcessed, withTenant } from '../../src/index';
import { ConversationMetrics } from '../../src/conversations/ConversationMetrics';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { setInstance } from '../../src/instance';
import type { TenantScope } from '../../src/sdk';

const manager = new AsyncLocalStorageContextManager();
before(() => context.setGlobalContextManager(manager.enable()));
after(() => {
  context.disable();
  setInstance(undefined as unknown as null);
});

function setup(maxLabelValues = 50, maxTenants = 100) {
  const tenants = new TenantRegistry({ maxTenants });
  const store = new MetricStore(resourceFromAttributes({}));
  const conversations = new ConversationMetrics({ store, tenants, maxLabelValues });
  setInstance({ tenants, conversations } as unknown as TenantScope);
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), new SimpleSpanProcessor({ exporter })] }).getTracer('t');
  /** Data points of `name` as `label=value,…` → value, with the OTLP point type. */
  const points = async (name: string): Promise<{ type: DataPointType | undefined; monotonic?: boolean; values: Record<string, number> }> => {
    const { resourceMetrics } = await store.collect();
    const m = resourceMetrics.scopeMetrics[0].metrics.find((x) => x.descriptor.name === name);
    const values: Record<string, number> = {};
    for (const p of m?.dataPoints ?? []) {
      values[
        Object.entries(p.attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',')
      ] = p.value as number;
    }
    return { type: m?.dataPointType, monotonic: m !== undefined && 'isMonotonic' in m ? m.isMonotonic : undefined, values };
  };
  const request = (tenant?: string): Context => ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, tenant));
  return { tenants, store, tracer, exporter, points, request };
}

test('started and completed move the active gauge up and back down, per tenant and channel', async () => {
  const p = setup();
  context.with(p.request('acme'), () => {
    conversationStarted({ channel: 'web' });
    conversationStarted({ channel: 'web' });
    conversationStarted({ channel: 'whatsapp' });
  });
  context.with(p.request('globex'), () => conversationStarted({ channel: 'web' }));
  assert.deepEqual((await p.points('conversations_active_total')).values, {
    'tenant_id=acme,channel=web': 2,
    'tenant_id=acme,channel=whatsapp': 1,
    'tenant_id=globex,channel=web': 1,
  });
  context.with(p.request('acme'), () => {
    conversationCompleted({ channel: 'web', resolutionStatus: 'resolved' });
    conversationCompleted({ channel: 'web', resolutionStatus: 'escalated' });
    conversationCompleted({ channel: 'whatsapp', resolutionStatus: 'resolved' });
  });
  const active = await p.points('conversations_active_total');
  assert.deepEqual(active.values, {
    'tenant_id=acme,channel=web': 0,
    'tenant_id=acme,channel=whatsapp': 0,
    'tenant_id=globex,channel=web': 1,
  });
  // An up-down count: a non-monotonic sum over OTLP.
  assert.equal(active.type, DataPointType.SUM);
  assert.equal(active.monotonic, false);
  assert.deepEqual((await p.points('conversations_started')).values, {
    'tenant_id=acme,channel=web': 2,
    'tenant_id=acme,channel=whatsapp': 1,
    'tenant_id=globex,channel=web': 1,
  });
  assert.deepEqual((await p.points('conversations_completed')).values, {
    'tenant_id=acme,channel=web,resolution_status=resolved': 1,
    'tenant_id=acme,channel=web,resolution_status=escalated': 1,
    'tenant_id=acme,channel=whatsapp,resolution_status=resolved': 1,
  });
});

test('a completion without a start never drives the active gauge below zero', async () => {
  const p = setup();
  context.with(p.request('acme'), () => {
    conversationCompleted({ channel: 'web', resolutionStatus: 'resolved' });
    conversationCompleted({ channel: 'web', resolutionStatus: 'resolved' });
    conversationStarted({ channel: 'web' });
  });
  assert.deepEqual((await p.points('conversations_active_total')).values, { 'tenant_id=acme,channel=web': 1 });
  assert.deepEqual((await p.points('conversations_completed')).values, { 'tenant_id=acme,channel=web,resolution_status=resolved': 2 });
});

test('the tenant defaults to the current one (request, withTenant, none) and an explicit one wins', async () => {
  const p = setup();
  conversationStarted({ channel: 'web' });
  withTenant('initech', () => conversationStarted({ channel: 'web' }));
  context.with(p.request('acme'), () => conversationStarted({ channel: 'web', tenant: 'globex' }));
  conversationStarted({ channel: 'web', tenant: 'bad tenant!' });
  assert.deepEqual((await p.points('conversations_started')).values, {
    'tenant_id=unknown,channel=web': 1,
    'tenant_id=initech,channel=web': 1,
    'tenant_id=globex,channel=web': 1,
    'tenant_id=invalid,channel=web': 1,
  });
});

test('messages are counted by tenant, channel, direction and type', async () => {
  const p = setup();
  context.with(p.request('acme'), () => {
    messageProcessed({ channel: 'web', direction: 'inbound', messageType: 'text' });
    messageProcessed({ channel: 'web', direction: 'inbound', messageType: 'text' });
    messageProcessed({ channel: 'web', direction: 'outbound', messageType: 'text' });
    messageProcessed({ channel: 'web', direction: 'inbound', messageType: 'image' });
  });
  assert.deepEqual((await p.points('messages_processed')).values, {
    'tenant_id=acme,channel=web,direction=inbound,message_type=text': 2,
    'tenant_id=acme,channel=web,direction=outbound,message_type=text': 1,
    'tenant_id=acme,channel=web,direction=inbound,message_type=image': 1,
  });
});

test('bad label values fold to invalid and never throw: non-strings, huge, control characters, empty, no options', async () => {
  const p = setup();
  const bad: unknown[] = [42, null, { toString: () => 'web' }, 'x'.repeat(129), 'web\n', 'we\u0000b', '', 'caf\u0085'];
  context.with(p.request('acme'), () => {
    for (const channel of bad) conversationStarted({ channel } as never);
    conversationStarted(undefined as never);
    conversationStarted('web' as never);
    messageProcessed({ channel: 'web', direction: Symbol('in'), messageType: 'text\r' } as never);
    conversationCompleted({ channel: 'web', resolutionStatus: ['resolved'] } as never);
  });
  // The (acme, web) series exist from the message and completion calls; nothing started there.
  assert.deepEqual((await p.points('conversations_started')).values, { 'tenant_id=acme,channel=invalid': bad.length + 2, 'tenant_id=acme,channel=web': 0 });
  assert.deepEqual((await p.points('messages_processed')).values, { 'tenant_id=acme,channel=web,direction=invalid,message_type=invalid': 1 });
  assert.deepEqual((await p.points('conversations_completed')).values, { 'tenant_id=acme,channel=web,resolution_status=invalid': 1 });
  // 128 characters is still a value; unicode letters are printable.
  context.with(p.request('acme'), () => conversationStarted({ channel: 'y'.repeat(128) }));
  context.with(p.request('acme'), () => conversationStarted({ channel: 'café' }));
  const started = (await p.points('conversations_started')).values;
  assert.equal(started[`tenant_id=acme,channel=${'y'.repeat(128)}`], 1);
  assert.equal(started['tenant_id=acme,channel=café'], 1);
});

test('channels past TENANTSCOPE_MAX_LABEL_VALUES fold into _OTHER, each fold counted', async () => {
  const p = setup(2);
  context.with(p.request('acme'), () => {
    for (const c of ['web', 'api', 'sms', 'fax', 'web', 'sms']) conversationStarted({ channel: c });
  });
  assert.deepEqual((await p.points('conversations_started')).values, {
    'tenant_id=acme,channel=web': 2,
    'tenant_id=acme,channel=api': 1,
    'tenant_id=acme,channel=_OTHER': 3,
  });
  assert.deepEqual((await p.points('tenantscope.labels.folded')).values, {
    'label=channel': 3,
    'label=resolution_status': 0,
    'label=direction': 0,
    'label=message_type': 0,
  });
});

test('tenants share the pipeline admission set: past the limit they are overflow', async () => {
  const p = setup(50, 1);
  p.tenants.label('acme');
  conversationStarted({ channel: 'web', tenant: 'globex' });
  assert.deepEqual((await p.points('conversations_started')).values, { 'tenant_id=overflow,channel=web': 1 });
});

test('each call is an event on the current span, with the bounded values', () => {
  const p = setup();
  const span = p.tracer.startSpan('POST /v1/conversations', {}, p.request('acme'));
  context.with(trace.setSpan(p.request('acme'), span), () => {
    conversationStarted({ channel: 'web' });
    messageProcessed({ channel: 'web', direction: 'inbound', messageType: 'text\u0007' });
    conversationCompleted({ channel: 'web', resolutionStatus: 'resolved', tenant: 'globex' });
  });
  span.end();
  const [s] = p.exporter.getFinishedSpans();
  assert.deepEqual(
    s.events.map((e) => [e.name, e.attributes]),
    [
      ['conversation.started', { 'conversation.channel': 'web' }],
      ['message.processed', { 'conversation.channel': 'web', 'message.direction': 'inbound', 'message.type': 'invalid' }],
      ['conversation.completed', { 'conversation.channel': 'web', 'conversation.resolution_status': 'resolved', 'tenant.id': 'globex' }],
    ]
  );
});

test('without a running pipeline the API does nothing and does not throw', () => {
  setInstance(null);
  conversationStarted({ channel: 'web' });
  conversationCompleted({ channel: 'web', resolutionStatus: 'resolved' });
  messageProcessed({ channel: 'web', direction: 'inbound', messageType: 'text' });
});
