import type { Socket } from 'node:net';

export type AnyFunction = (...args: unknown[]) => unknown;

/** The parts of `node:http` / `node:https` exports this instrumentation patches. */
export interface HttpModule {
  Server?: { prototype: { emit: AnyFunction } };
  ServerResponse?: { prototype: { write: AnyFunction } };
}

/** A socket whose `write` may be replaced for one call. */
export type WritableSocket = Omit<Socket, 'write'> & { write: AnyFunction };
