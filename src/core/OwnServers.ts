import type { IncomingMessage, Server } from 'node:http';

/**
 * Servers tenantscope runs itself (the /metrics endpoint): their requests are not the app's traffic. Built once
 * in src/sdk.ts; the Prometheus server marks itself, the HTTP instrumentation asks.
 */
export class OwnServers {
  private readonly _own = new WeakSet<object>();

  /** Marks a server as ours, so its requests get no spans and no RED metrics. */
  mark(server: Server): void {
    this._own.add(server);
  }

  /** True for a request that arrived on one of our own servers. */
  isOwnRequest(request: IncomingMessage): boolean {
    const server = (request.socket as unknown as { server?: object } | undefined)?.server;
    return server !== undefined && this._own.has(server);
  }
}
