import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { describeError, warnOnce } from '../src/core/log';
import { LabelValues } from '../src/core/metrics/LabelValues';
import type { HistogramFamily, HistogramSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import {
  ATTR_MESSAGE_TYPE,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_QUEUE_NAME,
  METRIC_LABELS_FOLDED,
  METRIC_QUEUE_PROCESSING_DURATION,
} from '../src/core/semconv';

export interface QueueMetricsSpanProcessorOptions {
  store: MetricStore;
  /** Distinct queue names, and distinct message types, before they fold into `_OTHER`. */
  maxLabelValues: number;
}

/** RabbitMQ's server-named queues (`amq.gen-<random>`, RPC reply queues): one label, not one per queue. */
const SERVER_NAMED = 'amq.gen-';
const SERVER_NAMED_LABEL = 'amq.gen-*';

/**
 * `queue_processing_duration_seconds{queue_name,message_type}` from CONSUMER spans: the span's duration, which for
 * upstream amqplib is delivery until ack/nack/reject. The queue is `tenantscope.queue.name` (set on amqplib's
 * consume spans), else `messaging.destination.name` (other messaging instrumentations); a consumer span with
 * neither is not a queue item. `message_type` is `tenantscope.message.type` (the AMQP `type` property), empty when
 * the message has none. Tenants are not a label here: the consumer span's own tenant (the producer's, carried as
 * baggage in the message headers) already goes to the span metrics and `errors_total`.
 */
export class QueueMetricsSpanProcessor implements SpanProcessor {
  private readonly _duration: HistogramFamily;
  private readonly _queues: LabelValues;
  private readonly _types: LabelValues;
  /** raw queue name → raw message type → series (raw names past the limit share the `_OTHER` series, bounded by the maps below) */
  private readonly _series = new Map<string, Map<string, HistogramSeries>>();
  private readonly _byLabel = new Map<string, Map<string, HistogramSeries>>();

  constructor(options: QueueMetricsSpanProcessorOptions) {
    const { store } = options;
    this._duration = store.histogram(METRIC_QUEUE_PROCESSING_DURATION);
    const folded = store.counter(METRIC_LABELS_FOLDED);
    this._queues = new LabelValues(options.maxLabelValues, folded.get(['queue_name']));
    this._types = new LabelValues(options.maxLabelValues, folded.get(['message_type']));
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (span.kind !== SpanKind.CONSUMER) return;
    try {
      const attrs = span.attributes;
      let queue = attrs[ATTR_QUEUE_NAME];
      if (typeof queue !== 'string') queue = attrs[ATTR_MESSAGING_DESTINATION_NAME];
      if (typeof queue !== 'string') return;
      const rawType = attrs[ATTR_MESSAGE_TYPE];
      const type = typeof rawType === 'string' ? rawType : '';
      const d = span.duration;
      this._seriesFor(queue, type).record(d[0] + d[1] / 1e9);
    } catch (err) {
      warnOnce('queue-onEnd', `queue metrics skipped a span: ${describeError(err)}`);
    }
  }

  private _seriesFor(queue: string, type: string): HistogramSeries {
    const byType = this._series.get(queue);
    const hit = byType?.get(type);
    if (hit !== undefined) return hit;
    const queueLabel = queue.startsWith(SERVER_NAMED) ? SERVER_NAMED_LABEL : this._queues.value(queue);
    const typeLabel = type === '' ? '' : this._types.value(type);
    let labelled = this._byLabel.get(queueLabel);
    if (labelled === undefined) this._byLabel.set(queueLabel, (labelled = new Map()));
    let s = labelled.get(typeLabel);
    if (s === undefined) {
      s = this._duration.get([queueLabel, typeLabel]);
      labelled.set(typeLabel, s);
    }
    // Only values that kept their own label are memoised by raw value: folded ones are resolved again each time,
    // so hostile names cannot grow the maps.
    if (queueLabel === queue && typeLabel === type) {
      let m = byType;
      if (m === undefined) this._series.set(queue, (m = new Map()));
      m.set(type, s);
    }
    return s;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
