/*
 * The request target as Ollama routes it. Go's net/http percent-decodes the path before gin matches it, gin
 * redirects a trailing slash to the route without it, and clients send `//` or dot segments by mistake or on
 * purpose: left as sent, `/api/%63hat` or `/api/x/../chat` would reach Ollama's chat handler while the proxy saw
 * an unknown path (no body limit, no GenAI span). So the proxy routes on one canonical path and sends Ollama that
 * same path: what is observed is what runs.
 */

export type Target = { path: string; query: string } | { error: string };

/** Characters a canonical path segment keeps as they are (RFC 3986 pchar without `%`). */
const PLAIN_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$/;

/** `/api/chat?x=1` → path `/api/chat`, query `?x=1`; a target that cannot be made canonical → an error. */
export function canonicalTarget(target: string): Target {
  const mark = target.indexOf('?');
  const rawPath = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? '' : target.slice(mark);
  if (isCanonical(rawPath)) return { path: rawPath, query };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { error: 'invalid percent-encoding in the request path' };
  }
  if (hasControlCharacter(decoded)) return { error: 'control characters in the request path' };
  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.pop() === undefined) return { error: 'the request path climbs above /' };
      continue;
    }
    segments.push(PLAIN_SEGMENT.test(segment) ? segment : encodeURIComponent(segment));
  }
  return { path: `/${segments.join('/')}`, query };
}

/** The common case, checked without allocating: no `%`, `//`, dot segment or trailing slash. */
function isCanonical(path: string): boolean {
  if (path === '/') return true;
  if (path.charCodeAt(0) !== 0x2f || path.charCodeAt(path.length - 1) === 0x2f) return false;
  if (path.includes('%') || path.includes('//')) return false;
  return !(path.includes('/./') || path.includes('/../') || path.endsWith('/.') || path.endsWith('/..'));
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
