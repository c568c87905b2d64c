import { getInstance } from './instance';

/** Where a conversation or message happened (`web`, `whatsapp`, `api`…); bounded, see `TENANTSCOPE_MAX_LABEL_VALUES`. */
export interface ConversationOptions {
  channel: string;
  /** The tenant it belongs to; default: the current one (the request's, or `withTenant`'s). */
  tenant?: string;
}

export interface ConversationCompletedOptions extends ConversationOptions {
  /** How it ended (`resolved`, `escalated`, `abandoned`…). */
  resolutionStatus: string;
}

export interface MessageProcessedOptions extends ConversationOptions {
  /** `inbound` (from the user) or `outbound` (to the user), or your own values. */
  direction: string;
  /** `text`, `image`, `tool_call`…, your own values. */
  messageType: string;
}

/**
 * Records a conversation start: `conversations_started_total` and `conversations_active_total{tenant_id,channel}`
 * go up by one, and the current span gets a `conversation.started` event. A label value that is not a short
 * printable string becomes `invalid`. Never throws; does nothing when tenantscope is not running.
 */
export function conversationStarted(options: ConversationOptions): void {
  getInstance()?.conversations.started(options);
}

/**
 * Records a conversation's end: `conversations_completed_total{…,resolution_status}` goes up by one and
 * `conversations_active_total` down by one (never below zero); the current span gets a `conversation.completed` event.
 */
export function conversationCompleted(options: ConversationCompletedOptions): void {
  getInstance()?.conversations.completed(options);
}

/** Records a processed message: `messages_processed_total{tenant_id,channel,direction,message_type}` and a `message.processed` event. */
export function messageProcessed(options: MessageProcessedOptions): void {
  getInstance()?.conversations.message(options);
}
