/** tenantscope's public API. Loading this module starts nothing: use `--require tenantscope/register`. */
import { getInstance } from './instance';

export { setTenant, withTenant, getTenant } from './tenantApi';
export { cacheLookup, cacheEviction } from './cacheApi';
export type { CacheLevelOptions } from './cacheApi';
export { TENANT_ID_PATTERN } from './core/tenant/TenantRegistry';
export type { TenantScopeConfig } from './core/config';
export { conversationStarted, conversationCompleted, messageProcessed } from './conversationApi';
export type { ConversationOptions, ConversationCompletedOptions, MessageProcessedOptions } from './conversationApi';
export { observeQueueDepth } from './queueApi';
export { redisListDepth, rabbitQueueDepth } from './queues/sources';
export type { RedisListClient, AmqpConnection, AmqpChannel } from './queues/sources';
export type { QueueDepthSource, ObserveQueueDepthOptions } from './queues/QueueDepthGauge';

/** Flushes spans and metrics and stops tenantscope; idempotent. Resolves at once when it is not running. */
export function shutdown(): Promise<void> {
  return getInstance()?.shutdown() ?? Promise.resolve();
}

/** Exports buffered spans and metrics now, without stopping. */
export function forceFlush(): Promise<void> {
  return getInstance()?.forceFlush() ?? Promise.resolve();
}
