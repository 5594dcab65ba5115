/*
 * Headers across the proxy, per RFC 9110 §7.6.1: hop-by-hop fields (and every field the `Connection` header
 * names) stay on their own connection; everything else, credentials included, passes through untouched and is
 * never recorded. The upstream gets its own `Host`, the body's real length, and our trace context.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Hop-by-hop in every message (RFC 9110 §7.6.1, plus the de-facto `Proxy-Connection` and `Keep-Alive`). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Request fields the proxy sets itself (or that only make sense on the client's connection). */
const SET_BY_PROXY = new Set(['host', 'content-length', 'expect']);

/** The lower-cased field names the `Connection` header lists (`Connection: close, X-Foo`). */
function connectionOptions(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
  if (value === undefined) return undefined;
  const names = new Set<string>();
  for (const name of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const trimmed = name.trim().toLowerCase();
    if (trimmed !== '') names.add(trimmed);
  }
  return names;
}

/**
 * What the upstream request carries: the client's end-to-end fields (raw, so repeated fields stay repeated), minus
 * the propagation fields we replace, plus `Host` and `Content-Length` when the body is known.
 */
export function upstreamRequestHeaders(
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
  hostHeader: string,
  bodyLength: number | undefined,
  replaced: ReadonlySet<string>,
): OutgoingHttpHeaders {
  const listed = connectionOptions(headers);
  const out: Record<string, string | string[]> = { host: hostHeader };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || SET_BY_PROXY.has(lower) || replaced.has(lower) || listed?.has(lower)) continue;
    const value = rawHeaders[i + 1] as string;
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else out[lower] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  else if (headers['transfer-encoding'] !== undefined) out['transfer-encoding'] = 'chunked';
  return out;
}

/**
 * The upstream response's end-to-end fields as `[name, value]` pairs in their original order and spelling, for
 * `writeHead`. `Transfer-Encoding` is left to Node (it re-chunks when there is no `Content-Length`).
 */
export function downstreamResponseHeaders(
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
  keepLength: boolean,
): string[] {
  const listed = connectionOptions(headers);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    if (!keepLength && lower === 'content-length') continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}
