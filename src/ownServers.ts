import type { IncomingMessage, Server } from 'node:http';

/** Servers tenantscope runs itself (the /metrics endpoint): their requests are not the app's traffic. */
const own = new WeakSet<object>();

/** Marks a server as ours, so its requests get no spans and no RED metrics. */
export function markOwnServer(server: Server): void {
  own.add(server);
}

/** True for a request that arrived on one of our own servers. */
export function isOwnServerRequest(request: IncomingMessage): boolean {
  const server = (request.socket as unknown as { server?: object } | undefined)?.server;
  return server !== undefined && own.has(server);
}
