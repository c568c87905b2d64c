/**
 * The tenant on log records: TenantLogRecordProcessor behind a real LoggerProvider (records kept by the SDK's
 * in-memory exporter), and the pino/winston log hook on the records those instrumentations hand it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { context, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { tenantLogHook } from '../../instrumentations/upstream';
import { TenantLogRecordProcessor } from '../../processors/TenantLogRecordProcessor';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

const contextManager = new AsyncLocalStorageContextManager();
before(() => {
  context.setGlobalContextManager(contextManager.enable());
});
after(() => {
  context.disable();
});

function pipeline() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({}),
    processors: [new TenantLogRecordProcessor(), new SimpleLogRecordProcessor({ exporter })],
  });
  return { exporter, log: provider.getLogger('test') };
}

const tenantOf = (attrs: Record<string, unknown>) => attrs['tenant.id'];

test('records written in a request carry its tenant; a later setTenant shows on records written after it', () => {
  const { exporter, log } = pipeline();
  const tenants = new TenantRegistry({ maxTenants: 10 });
  const acme = new TenantCell(tenants, 'acme');
  const late = new TenantCell(tenants);
  context.with(context.active().setValue(TENANT_CONTEXT_KEY, acme), () => log.emit({ body: 'a' }));
  context.with(context.active().setValue(TENANT_CONTEXT_KEY, late), () => {
    log.emit({ body: 'before auth' });
    late.set('globex');
    log.emit({ body: 'after auth' });
  });
  log.emit({ body: 'outside any request' });
  const got = exporter.getFinishedLogRecords().map((r) => [r.body, tenantOf(r.attributes)]);
  assert.deepEqual(got, [
    ['a', 'acme'],
    ['before auth', 'unknown'],
    ['after auth', 'globex'],
    ['outside any request', undefined],
  ]);
});

test('the tenant on records follows the span rules: invalid ids are "invalid", ids are hashed when a key is set', () => {
  const { exporter, log } = pipeline();
  const hashed = new TenantRegistry({ maxTenants: 10, hashKey: 'a-long-enough-secret-key' });
  const cells = [new TenantCell(hashed, 'acme'), new TenantCell(hashed, 'bad tenant!')];
  for (const cell of cells) context.with(context.active().setValue(TENANT_CONTEXT_KEY, cell), () => log.emit({ body: 'x' }));
  const got = exporter.getFinishedLogRecords().map((r) => tenantOf(r.attributes));
  assert.deepEqual(got, [hashed.spanId('acme'), 'invalid']);
  assert.notEqual(got[0], 'acme');
  assert.match(String(got[0]), /^t[0-9a-f]{16}$/);
});

test('the log hook adds tenant_id from the active context, and leaves a tenant_id the app wrote', () => {
  const tenants = new TenantRegistry({ maxTenants: 10 });
  const span = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }) as Span;
  const cell = new TenantCell(tenants, 'acme');
  const upstream = { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', trace_flags: '01' };
  const added: Record<string, unknown> = { ...upstream };
  const own: Record<string, unknown> = { ...upstream, tenant_id: 'as-the-app-wrote-it' };
  const outside: Record<string, unknown> = { ...upstream };
  context.with(context.active().setValue(TENANT_CONTEXT_KEY, cell), () => {
    tenantLogHook(span, added);
    tenantLogHook(span, own);
    cell.set('globex');
    const later: Record<string, unknown> = {};
    tenantLogHook(span, later);
    assert.deepEqual(later, { tenant_id: 'globex' });
  });
  tenantLogHook(span, outside);
  assert.deepEqual(added, { ...upstream, tenant_id: 'acme' });
  assert.deepEqual(own, { ...upstream, tenant_id: 'as-the-app-wrote-it' });
  assert.deepEqual(outside, upstream);
});
