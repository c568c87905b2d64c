/**
 * Ready-made queue-depth sources for `observeQueueDepth`. The client libraries are the app's: they are described
 * here by the few methods used, never imported.
 */
import type { QueueDepthSource } from './QueueDepthGauge';

/** A Redis client with `LLEN`: ioredis (`llen`) or node-redis v4+ (`lLen`). */
export interface RedisListClient {
  llen?(key: string): Promise<number>;
  lLen?(key: string): Promise<number>;
}

/** The depth of a Redis list used as a queue: `LLEN key`. */
export function redisListDepth(client: RedisListClient, key: string): QueueDepthSource {
  return () => {
    if (typeof client.llen === 'function') return client.llen(key);
    if (typeof client.lLen === 'function') return client.lLen(key);
    throw new TypeError('the Redis client has neither llen() nor lLen()');
  };
}

/** What `checkQueue` answers (amqplib's `Replies.AssertQueue`). */
interface CheckQueueReply {
  messageCount: number;
}

/** An amqplib channel (promise API). */
export interface AmqpChannel {
  checkQueue(queue: string): Promise<CheckQueueReply>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** An amqplib connection (promise API). */
export interface AmqpConnection {
  createChannel(): Promise<AmqpChannel>;
}

/**
 * The number of ready messages in a RabbitMQ queue (`checkQueue(queue).messageCount`; messages delivered to a
 * consumer and not yet acked are not counted). Give it the connection: it opens a channel of its own, and opens a
 * new one when that one closes. The broker closes a channel that checks a queue that does not exist, so a channel
 * the app passes in would be closed under it.
 */
export function rabbitQueueDepth(connectionOrChannel: AmqpConnection | AmqpChannel, queue: string): QueueDepthSource {
  if (typeof (connectionOrChannel as AmqpChannel).checkQueue === 'function') {
    const channel = connectionOrChannel as AmqpChannel;
    return async () => (await channel.checkQueue(queue)).messageCount;
  }
  const connection = connectionOrChannel as AmqpConnection;
  let channel: Promise<AmqpChannel> | undefined;
  const open = (): Promise<AmqpChannel> =>
    connection.createChannel().then(
      (ch) => {
        // Without an 'error' listener a channel error (a missing queue) would be thrown from the emitter.
        ch.on('error', () => undefined);
        ch.once('close', () => {
          channel = undefined;
        });
        return ch;
      },
      (err: unknown) => {
        channel = undefined;
        throw err;
      }
    );
  return async () => {
    channel ??= open();
    return (await (await channel).checkQueue(queue)).messageCount;
  };
}
