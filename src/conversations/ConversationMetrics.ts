import { context, trace, type Attributes } from '@opentelemetry/api';
import { describeError, warnOnce } from '../core/log';
import { LabelValues } from '../core/metrics/LabelValues';
import type { CounterFamily, CounterSeries, GaugeFamily, GaugeSeries } from '../core/metrics/MetricFamily';
import type { MetricStore } from '../core/metrics/MetricStore';
import {
  ATTR_CONVERSATION_CHANNEL,
  ATTR_CONVERSATION_RESOLUTION_STATUS,
  ATTR_MESSAGE_DIRECTION,
  ATTR_MESSAGE_TYPE_EVENT,
  ATTR_TENANT_ID,
  EVENT_CONVERSATION_COMPLETED,
  EVENT_CONVERSATION_STARTED,
  EVENT_MESSAGE_PROCESSED,
  METRIC_CONVERSATIONS_ACTIVE,
  METRIC_CONVERSATIONS_COMPLETED,
  METRIC_CONVERSATIONS_STARTED,
  METRIC_LABELS_FOLDED,
  METRIC_MESSAGES_PROCESSED,
} from '../core/semconv';
import { getTenantCell } from '../core/tenant/TenantCell';
import type { TenantRegistry } from '../core/tenant/TenantRegistry';

export interface ConversationMetricsOptions {
  store: MetricStore;
  /** The pipeline's registry: tenants are admitted to labels by the same set as every other family. */
  tenants: TenantRegistry;
  /** Distinct values per label (channel, direction, message type, resolution status) before they fold into `_OTHER`. */
  maxLabelValues: number;
}

/** What the public API passes in; every field is untrusted. */
export interface ConversationEvent {
  channel?: unknown;
  resolutionStatus?: unknown;
  direction?: unknown;
  messageType?: unknown;
  tenant?: unknown;
}

/** Series of one tenant and channel: started, active, and the completed / messages series by their other labels. */
interface ChannelCell {
  /** The tenant label. */
  readonly tenant: string;
  readonly started: CounterSeries;
  readonly active: GaugeSeries;
  readonly completed: Map<string, CounterSeries>;
  /** direction → message type → series */
  readonly messages: Map<string, Map<string, CounterSeries>>;
}

/**
 * The seed's BusinessMetricsCollector: conversations started, completed and active, and messages processed,
 * per tenant and channel, recorded by the app through `conversationStarted` / `conversationCompleted` /
 * `messageProcessed`. Each call is also an event on the current span. Built once per pipeline in src/sdk.ts.
 */
export class ConversationMetrics {
  private readonly _tenants: TenantRegistry;
  private readonly _startedFamily: CounterFamily;
  private readonly _completedFamily: CounterFamily;
  private readonly _activeFamily: GaugeFamily;
  private readonly _messagesFamily: CounterFamily;
  private readonly _channels: LabelValues;
  private readonly _statuses: LabelValues;
  private readonly _directions: LabelValues;
  private readonly _types: LabelValues;
  /** tenant index → channel label → cell */
  private readonly _cells: (Map<string, ChannelCell> | undefined)[] = [];

  constructor(options: ConversationMetricsOptions) {
    const { store, maxLabelValues } = options;
    this._tenants = options.tenants;
    this._startedFamily = store.counter(METRIC_CONVERSATIONS_STARTED);
    this._completedFamily = store.counter(METRIC_CONVERSATIONS_COMPLETED);
    this._activeFamily = store.gauge(METRIC_CONVERSATIONS_ACTIVE);
    this._messagesFamily = store.counter(METRIC_MESSAGES_PROCESSED);
    const folded = store.counter(METRIC_LABELS_FOLDED);
    this._channels = new LabelValues(maxLabelValues, folded.get(['channel']));
    this._statuses = new LabelValues(maxLabelValues, folded.get(['resolution_status']));
    this._directions = new LabelValues(maxLabelValues, folded.get(['direction']));
    this._types = new LabelValues(maxLabelValues, folded.get(['message_type']));
  }

  /** A conversation started: `conversations_started_total` and `conversations_active_total` go up by one. */
  started(e: ConversationEvent | undefined): void {
    try {
      const channel = this._channels.value(e?.channel);
      const c = this._cell(e?.tenant, channel);
      c.started.value++;
      c.active.value++;
      this._event(EVENT_CONVERSATION_STARTED, e, { [ATTR_CONVERSATION_CHANNEL]: channel });
    } catch (err) {
      warnOnce('conversation-started', `conversationStarted() was not recorded: ${describeError(err)}`);
    }
  }

  /**
   * A conversation completed: `conversations_completed_total` goes up and `conversations_active_total` down by one,
   * never below zero (a completion whose start this process did not see leaves the gauge as it is).
   */
  completed(e: ConversationEvent | undefined): void {
    try {
      const channel = this._channels.value(e?.channel);
      const status = this._statuses.value(e?.resolutionStatus);
      const c = this._cell(e?.tenant, channel);
      let s = c.completed.get(status);
      if (s === undefined) {
        s = this._completedFamily.get([c.tenant, channel, status]);
        c.completed.set(status, s);
      }
      s.value++;
      if (c.active.value > 0) c.active.value--;
      this._event(EVENT_CONVERSATION_COMPLETED, e, { [ATTR_CONVERSATION_CHANNEL]: channel, [ATTR_CONVERSATION_RESOLUTION_STATUS]: status });
    } catch (err) {
      warnOnce('conversation-completed', `conversationCompleted() was not recorded: ${describeError(err)}`);
    }
  }

  /** A message was processed: `messages_processed_total` goes up by one. */
  message(e: ConversationEvent | undefined): void {
    try {
      const channel = this._channels.value(e?.channel);
      const direction = this._directions.value(e?.direction);
      const type = this._types.value(e?.messageType);
      const c = this._cell(e?.tenant, channel);
      let byType = c.messages.get(direction);
      if (byType === undefined) c.messages.set(direction, (byType = new Map()));
      let s = byType.get(type);
      if (s === undefined) {
        s = this._messagesFamily.get([c.tenant, channel, direction, type]);
        byType.set(type, s);
      }
      s.value++;
      this._event(EVENT_MESSAGE_PROCESSED, e, {
        [ATTR_CONVERSATION_CHANNEL]: channel,
        [ATTR_MESSAGE_DIRECTION]: direction,
        [ATTR_MESSAGE_TYPE_EVENT]: type,
      });
    } catch (err) {
      warnOnce('message-processed', `messageProcessed() was not recorded: ${describeError(err)}`);
    }
  }

  /** The series of a tenant (given, else the current one) and channel. */
  private _cell(tenant: unknown, channel: string): ChannelCell {
    let index: number;
    if (tenant !== undefined) {
      index = this._tenants.indexOfAttribute(tenant);
    } else {
      const cell = getTenantCell(context.active());
      index = cell === undefined ? this._tenants.indexOfAttribute(undefined) : this._tenants.indexOf(cell);
    }
    let byChannel = this._cells[index];
    if (byChannel === undefined) byChannel = this._cells[index] = new Map();
    let c = byChannel.get(channel);
    if (c === undefined) {
      const tenantLabel = this._tenants.labelAt(index);
      c = {
        tenant: tenantLabel,
        started: this._startedFamily.get([tenantLabel, channel]),
        active: this._activeFamily.get([tenantLabel, channel]),
        completed: new Map(),
        messages: new Map(),
      };
      byChannel.set(channel, c);
    }
    return c;
  }

  /** Adds the call as an event on the current span (with the tenant it was given, if any). */
  private _event(name: string, e: ConversationEvent | undefined, attributes: Attributes): void {
    const span = trace.getSpan(context.active());
    if (span === undefined || !span.isRecording()) return;
    if (e?.tenant !== undefined) attributes[ATTR_TENANT_ID] = this._tenants.spanId(e.tenant);
    span.addEvent(name, attributes);
  }
}
