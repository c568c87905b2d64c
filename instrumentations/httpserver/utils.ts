import type { Attributes } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '../../src/core/semconv';

/*
 * The attributes upstream instrumentation-http 0.301 (`getIncomingRequestAttributes`, stable semantic conventions)
 * gives a server span, computed the same way with less work on the common request: the path and query are split
 * from `request.url` directly when the URL parser would return them unchanged, and parsed with `URL` otherwise.
 */

/** Methods the stable conventions name; any other is `_OTHER` (with `http.request.method_original`). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/** Query keys whose values upstream redacts by default. */
const REDACTED_QUERY_KEYS = ['sig', 'Signature', 'AWSAccessKeyId', 'X-Goog-Signature', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token'];
const REDACTED = 'REDACTED';

/**
 * An origin-form target the WHATWG URL parser keeps as it is: starts with one `/` (not `//`, which it reads as a
 * host), no dot segment, no character it percent-encodes or treats specially (`%` is left alone by the parser, but
 * kept out to stay on the safe side), no fragment.
 */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

export function normalizeMethod(method: string | undefined): string {
  if (method == null) return 'GET';
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/** The start attributes of a server span for `request`, as upstream names them. */
export function requestAttributes(request: IncomingMessage, scheme: 'http' | 'https'): Attributes {
  const { headers, method } = request;
  const socket = request.socket;
  const normalized = normalizeMethod(method);
  const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: normalized, [ATTR_URL_SCHEME]: scheme };
  const server = serverAddress(request, scheme);
  if (server?.host !== undefined) attributes[ATTR_SERVER_ADDRESS] = server.host;
  const peer = socket?.remoteAddress;
  if (peer !== undefined) attributes[ATTR_NETWORK_PEER_ADDRESS] = peer;
  const peerPort = socket?.remotePort;
  if (peerPort !== undefined) attributes[ATTR_NETWORK_PEER_PORT] = peerPort;
  attributes[ATTR_NETWORK_PROTOCOL_VERSION] = request.httpVersion;
  const agent = headers['user-agent'];
  if (agent !== undefined) attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
  setUrlAttributes(attributes, request.url, headers.host, scheme);
  const client = clientAddress(request);
  if (client != null) attributes[ATTR_CLIENT_ADDRESS] = client;
  if (server?.port != null) attributes[ATTR_SERVER_PORT] = Number(server.port);
  if (method !== normalized) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = method;
  return attributes;
}

/** `url.path` and `url.query` (redacted, re-serialised as upstream does). */
function setUrlAttributes(attributes: Attributes, url: string | undefined, host: string | undefined, scheme: string): void {
  const target = url ?? '/';
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  // Upstream parses against the Host header and gives no URL attributes when that fails (a host the parser refuses).
  if (PLAIN_PATH.test(path) && !path.includes('/.') && PLAIN_QUERY.test(query) && parsableHost(host, scheme)) {
    attributes[ATTR_URL_PATH] = path;
    if (query !== '') attributes[ATTR_URL_QUERY] = redactQuery(query);
    return;
  }
  let parsed: URL;
  try {
    parsed = new URL(target, `${scheme}://${host ?? 'localhost'}`);
  } catch {
    return;
  }
  attributes[ATTR_URL_PATH] = parsed.pathname;
  if (parsed.search !== '') attributes[ATTR_URL_QUERY] = redactQuery(parsed.search.slice(1));
}

/** The last Host header and scheme seen to make a parsable base URL (keep-alive clients repeat theirs). */
let lastGoodHost = '';
let lastGoodScheme = '';

function parsableHost(host: string | undefined, scheme: string): boolean {
  if (host === undefined) return true;
  if (host === lastGoodHost && scheme === lastGoodScheme) return true;
  if (!URL.canParse(`${scheme}://${host}`)) return false;
  lastGoodHost = host;
  lastGoodScheme = scheme;
  return true;
}

function redactQuery(query: string): string {
  const params = new URLSearchParams(query);
  for (const key of REDACTED_QUERY_KEYS) if (params.has(key)) params.set(key, REDACTED);
  return params.toString();
}

interface HostAndPort {
  readonly host: string;
  readonly port?: string;
}

/** `server.address` / `server.port`: Forwarded, then X-Forwarded-Host, then Host (upstream's order and parsing). */
function serverAddress(request: IncomingMessage, scheme: string): HostAndPort | null {
  const headers = request.headers;
  const forwarded = headers.forwarded;
  if (forwarded) {
    for (const entry of parseForwarded(forwarded)) if (entry.host) return parseHost(entry.host, entry.proto);
  }
  const xfh = headers['x-forwarded-host'] as string | string[] | undefined;
  const xfp = headers['x-forwarded-proto'] as string | string[] | undefined;
  const proto = typeof xfp === 'string' ? xfp : Array.isArray(xfp) ? xfp[0] : undefined;
  if (typeof xfh === 'string') return parseHost(xfh, proto);
  if (Array.isArray(xfh) && typeof xfh[0] === 'string' && xfh[0].length > 0) return parseHost(xfh[0], proto);
  const host = headers.host;
  if (typeof host === 'string' && host.length > 0) return parseHost(host, scheme);
  return null;
}

/** The last `parseHost` answer (keep-alive clients repeat their Host header); its object is only read. */
let lastHostHeader = '';
let lastHostProto: string | undefined;
let lastHost: HostAndPort = { host: '' };

function parseHost(header: string, proto: string | undefined): HostAndPort {
  if (header === lastHostHeader && proto === lastHostProto) return lastHost;
  const parsed = splitHost(header, proto);
  lastHostHeader = header;
  lastHostProto = proto;
  lastHost = parsed;
  return parsed;
}

function splitHost(header: string, proto: string | undefined): HostAndPort {
  const parts = header.split(':');
  const defaultPort = proto === 'http' ? '80' : proto === 'https' ? '443' : undefined;
  if (parts.length === 1) return defaultPort === undefined ? { host: parts[0] } : { host: parts[0], port: defaultPort };
  if (parts.length === 2) return { host: parts[0], port: parts[1] };
  if (parts[0].startsWith('[')) {
    if (parts[parts.length - 1].endsWith(']')) {
      if (defaultPort !== undefined) return { host: header, port: defaultPort };
    } else if (parts[parts.length - 2].endsWith(']')) {
      return { host: parts.slice(0, -1).join(':'), port: parts[parts.length - 1] };
    }
  }
  return { host: header };
}

/** `client.address`: Forwarded `for`, then the first X-Forwarded-For entry, then the peer. */
function clientAddress(request: IncomingMessage): string | null {
  const headers = request.headers;
  const forwarded = headers.forwarded;
  if (forwarded) {
    for (const entry of parseForwarded(forwarded)) if (entry.for) return removePort(entry.for);
  }
  const xff = headers['x-forwarded-for'];
  if (xff) {
    const first = typeof xff === 'string' ? xff : Array.isArray(xff) ? (xff as string[])[0] : undefined;
    if (typeof first === 'string') return removePort(first.split(',')[0].trim());
  }
  return request.socket?.remoteAddress || null;
}

function removePort(input: string): string {
  try {
    const { hostname } = new URL(`http://${input}`);
    return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  } catch {
    return input;
  }
}

interface ForwardedEntry {
  for?: string;
  host?: string;
  proto?: string;
}

/** The `Forwarded` header's entries (RFC 7239), with the parser upstream uses; loaded on the first such header. */
function parseForwarded(header: string): ForwardedEntry[] {
  try {
    const { parse } = require('forwarded-parse') as { parse: (h: string) => ForwardedEntry[] };
    return parse(header);
  } catch {
    return [];
  }
}

/** `parseErrorType` of upstream for a server: the status code as a string for 5xx. */
export function serverErrorType(statusCode: number): string | undefined {
  return statusCode >= 500 && statusCode < 600 ? String(statusCode) : undefined;
}

/** True for a status upstream leaves UNSET on a server span (100–499); anything else is ERROR. */
export function isServerOk(statusCode: number): boolean {
  return statusCode >= 100 && statusCode < 500;
}
