/**
 * AWS Bedrock Runtime (`@aws-sdk/client-bedrock-runtime`): it never calls `fetch` (its default handler is
 * HTTP/2), so model calls are seen through the SDK's own middleware stack. A middleware is added once to each
 * client (on its first `send`) at the `initialize` step; it runs inside the span of upstream
 * `@opentelemetry/instrumentation-aws-sdk` when that is installed, so such a span is enriched, never doubled.
 */
import { TextDecoder } from 'node:util';
import { describeError, warnOnce } from '../../src/core/log';
import type { CallTracker } from './CallTracker';
import { obj, parseJsonObject, type ModelEndpoint } from './utils';
import { OPERATION_CHAT } from '../../src/core/semconv';

/** The commands that are model calls, with the wire format of their output. */
const COMMANDS: Readonly<Record<string, 'converse' | 'converse_stream' | 'invoke' | 'invoke_stream'>> = {
  ConverseCommand: 'converse',
  ConverseStreamCommand: 'converse_stream',
  InvokeModelCommand: 'invoke',
  InvokeModelWithResponseStreamCommand: 'invoke_stream',
};
export const BEDROCK_PROVIDER = 'aws.bedrock';
export const BEDROCK_MIDDLEWARE = 'tenantscopeGenAIMiddleware';

/** What the middleware needs from the instrumentation. */
export interface BedrockHost {
  /** Starts (or adopts) the span of one call; undefined when it is not traced. */
  start(ep: ModelEndpoint, input: Record<string, unknown>): { tracker: CallTracker; run<T>(fn: () => T): T } | undefined;
}

/** The command's model call, when it is one: its endpoint (provider, model, response format). */
export function bedrockEndpoint(commandName: unknown, input: Record<string, unknown>): ModelEndpoint | undefined {
  const kind = typeof commandName === 'string' ? COMMANDS[commandName] : undefined;
  if (kind === undefined) return undefined;
  const modelId = typeof input.modelId === 'string' ? input.modelId : '';
  let wire: ModelEndpoint['kind'] = 'converse';
  if (kind === 'invoke' || kind === 'invoke_stream') wire = isAnthropic(modelId, input.body) ? 'messages' : 'bedrock_invoke';
  return { kind: wire, provider: BEDROCK_PROVIDER, operation: OPERATION_CHAT, streamUsage: false, pathModel: modelId, priceByRequest: true };
}

function isAnthropic(modelId: string, body: unknown): boolean {
  if (modelId.includes('anthropic.')) return true;
  const text = typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
  return text.includes('"anthropic_version"');
}

type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown>; response?: { headers?: Record<string, unknown> } }>;

/** The `initialize`-step middleware: one model call per command, traced, its output observed. */
export function bedrockMiddleware(host: BedrockHost): (next: Next, ctx: { commandName?: unknown }) => Next {
  return (next, hctx) =>
    async function tenantscopeGenAI(args) {
      let started: ReturnType<BedrockHost['start']>;
      let ep: ModelEndpoint | undefined;
      try {
        const input = args.input;
        ep = bedrockEndpoint(hctx.commandName, input);
        started = ep !== undefined ? host.start(ep, input) : undefined;
      } catch (err) {
        warnOnce('genai-bedrock-start', `a Bedrock call was not traced: ${describeError(err)}`);
        started = undefined;
      }
      if (started === undefined) return next(args);
      const { tracker } = started;
      let result: Awaited<ReturnType<Next>>;
      try {
        result = await started.run(() => next(args));
      } catch (err) {
        tracker.fail(err);
        throw err;
      }
      try {
        observeOutput(hctx.commandName as string, result, tracker);
      } catch (err) {
        warnOnce('genai-bedrock-output', `a Bedrock response was not observed: ${describeError(err)}`);
        tracker.end();
      }
      return result;
    };
}

const decoder = new TextDecoder();

function observeOutput(command: string, result: { output: Record<string, unknown>; response?: { headers?: Record<string, unknown> } }, tracker: CallTracker): void {
  const out = result.output;
  switch (COMMANDS[command]) {
    case 'converse':
      tracker.result(out);
      return;
    case 'invoke': {
      const body = out.body;
      const o = body instanceof Uint8Array ? parseJsonObject(decoder.decode(body)) : undefined;
      tracker.result(o ?? {}, result.response?.headers);
      return;
    }
    case 'converse_stream':
      out.stream = observedEvents(out.stream, tracker, (e) => e);
      tracker.watchIdle();
      return;
    case 'invoke_stream':
      // Each event is `{ chunk: { bytes } }`, the bytes one JSON event of the model's own stream format.
      out.body = observedEvents(out.body, tracker, (e) => {
        const bytes = obj(e.chunk)?.bytes;
        return bytes instanceof Uint8Array ? parseJsonObject(decoder.decode(bytes)) : undefined;
      });
      tracker.watchIdle();
      return;
  }
}

/**
 * The SDK's event stream as the caller will iterate it: every event passes through `tracker` (after `pick`),
 * the end of iteration ends the call, a `break` abandons it; nothing is read ahead.
 */
function observedEvents(
  src: unknown,
  tracker: CallTracker,
  pick: (e: Record<string, unknown>) => Record<string, unknown> | undefined
): unknown {
  if (src === null || typeof src !== 'object' || !(Symbol.asyncIterator in src)) {
    tracker.end();
    return src;
  }
  const source = src as AsyncIterable<unknown>;
  return {
    [Symbol.asyncIterator](): AsyncIterator<unknown> {
      const it = source[Symbol.asyncIterator]();
      return {
        async next(): Promise<IteratorResult<unknown>> {
          tracker.reading(true);
          let r: IteratorResult<unknown>;
          try {
            r = await it.next();
          } catch (err) {
            tracker.fail(err);
            throw err;
          }
          tracker.reading(false);
          if (r.done === true) tracker.streamEnded();
          else {
            const e = obj(r.value);
            const o = e !== undefined ? pick(e) : undefined;
            if (o !== undefined) tracker.streamEvent(o);
          }
          return r;
        },
        async return(value?: unknown): Promise<IteratorResult<unknown>> {
          tracker.abandoned();
          if (typeof it.return === 'function') return it.return(value);
          return { done: true, value: undefined };
        },
      };
    },
  };
}
