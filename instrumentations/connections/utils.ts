import type { HrTime } from '@opentelemetry/api';
import { hrTime, hrTimeDuration } from '@opentelemetry/core';

const SWITCHING = 'HTTP/1.1 101';

/** True when `chunk` starts a `101 Switching Protocols` answer: the upgrade was accepted. */
export function isSwitchingProtocols(chunk: unknown): boolean {
  if (typeof chunk === 'string') return chunk.startsWith(SWITCHING);
  if (chunk instanceof Uint8Array && chunk.length >= SWITCHING.length) {
    for (let i = 0; i < SWITCHING.length; i++) if (chunk[i] !== SWITCHING.charCodeAt(i)) return false;
    return true;
  }
  return false;
}

/** True for a write that carries no body byte (`write('')`, an empty buffer, nothing). */
export function isEmptyChunk(chunk: unknown): boolean {
  if (typeof chunk === 'string') return chunk.length === 0;
  if (chunk instanceof Uint8Array) return chunk.length === 0;
  return chunk === undefined || chunk === null;
}

/** Seconds from `start` (a span's start time) until now, on the clock spans use. */
export function secondsSince(start: HrTime): number {
  const d = hrTimeDuration(start, hrTime());
  return d[0] + d[1] / 1e9;
}

/** True for an upgrade request asking for a WebSocket. */
export function isWebSocketUpgrade(headers: unknown): boolean {
  const upgrade = (headers as { upgrade?: unknown } | undefined)?.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}
