/*
 * Headers across the proxy, per RFC 9110 §7.6.1: hop-by-hop fields (and every field the `Connection` header
 * names) stay on their own connection; everything else, credentials included, passes through untouched and is
 * never recorded. The upstream gets its own `Host`, the body's real length, and our trace context.
 */

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

/** The lower-cased field names a `Connection` header lists (`Connection: close, X-Foo`), beyond its options. */
function connectionOptions(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined || ONLY_OPTION.test(value as string)) return undefined;
  const names = new Set<string>();
  for (const name of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const trimmed = name.trim().toLowerCase();
    if (trimmed !== '') names.add(trimmed);
  }
  return names;
}

/** The usual `Connection` values: they name no other field. */
const ONLY_OPTION = /^\s*(?:keep-alive|close)\s*$/i;

/**
 * What the upstream request carries, as flat `[name, value, ...]` pairs in the client's order and spelling (so
 * repeated fields stay repeated and no field name is ever an object key): the client's end-to-end fields minus
 * the propagation fields we replace, then `Host` and the body's `Content-Length` when it is known.
 */
export function upstreamRequestHeaders(
  rawHeaders: string[],
  connection: string | string[] | undefined,
  hostHeader: string,
  framing: { length: number } | 'chunked' | undefined,
  replaced: ReadonlySet<string>,
): string[] {
  const listed = connectionOptions(connection);
  const out: string[] = ['host', hostHeader];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || SET_BY_PROXY.has(lower) || replaced.has(lower) || listed?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  // A body of unknown length is sent chunked by undici itself (it refuses a Transfer-Encoding header).
  if (framing !== undefined && framing !== 'chunked') out.push('content-length', String(framing.length));
  return out;
}

/**
 * The upstream response's end-to-end fields as `[name, value]` pairs in their original order and spelling, for
 * `writeHead`. `Transfer-Encoding` is left to Node (it re-chunks when there is no `Content-Length`).
 */
export function downstreamResponseHeaders(
  rawHeaders: readonly (string | Buffer)[],
  connection: string | string[] | undefined,
  keepLength: boolean,
): string[] {
  const listed = connectionOptions(connection);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = String(rawHeaders[i]);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    if (!keepLength && lower === 'content-length') continue;
    out.push(name, String(rawHeaders[i + 1]));
  }
  return out;
}
