import { getInstance } from './instance';
import type { ObserveQueueDepthOptions, QueueDepthSource } from './queues/QueueDepthGauge';

/**
 * Reports `queueName`'s depth as `queue_size{queue_name,tenant_id}`, asking `depth` only when metrics are collected
 * (a scrape, an OTLP export), with tracing suppressed and a time bound (`TENANTSCOPE_QUEUE_DEPTH_TIMEOUT_MS`). Use
 * `redisListDepth` or `rabbitQueueDepth` for the common cases. Returns a function that stops observing. Never
 * throws; does nothing when tenantscope is not running.
 */
export function observeQueueDepth(queueName: string, depth: QueueDepthSource, options?: ObserveQueueDepthOptions): () => void {
  const scope = getInstance();
  if (!scope) return () => undefined;
  return scope.queueDepth.observe(queueName, depth, options);
}
