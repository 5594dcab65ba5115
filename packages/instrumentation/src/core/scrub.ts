/*
 * Credentials never leave the process in telemetry: whatever the source of a recorded string (an error message
 * that quotes a URL, a stack trace, a model name, captured content), user:password in URLs, secret-looking
 * query parameters and bearer tokens are replaced with `REDACTED`, as the semantic conventions ask for `url.full`.
 */

export const REDACTED = 'REDACTED';

/** `scheme://user:password@` (the userinfo part of a URL). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
/** `?api_key=...`, `&token=...`: names that carry secrets in the wild (AWS, GCS, OAuth, API keys). */
const SECRET_QUERY_PARAMETER =
  /([?&;])((?:[a-z0-9_-]*[_-])?(?:api[_-]?key|apikey|key|token|secret|password|passwd|pwd|pass|auth|authorization|credentials?|signature|sig|session(?:[_-]?id)?|code)|awsaccesskeyid|x-amz-[a-z-]+|x-goog-[a-z-]+)=([^&#\s"'<>]*)/gi;
/** `Bearer eyJ...`, `Basic dXNlcjpwYXNz`: credentials copied from an Authorization header. */
const AUTHORIZATION_VALUE = /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}/g;

/** One cheap scan that tells whether any of the patterns can match (most texts have none of these). */
const SUSPICIOUS = /[@=]|Bearer|Basic|Token/;

/** `text` with credentials replaced by `REDACTED`; the same string when there are none (the common case). */
export function scrub(text: string): string {
  if (!SUSPICIOUS.test(text)) return text;
  let scrubbed = text;
  if (scrubbed.includes('@')) scrubbed = scrubbed.replace(URL_USERINFO, `$1${REDACTED}:${REDACTED}@`);
  if (scrubbed.includes('=')) scrubbed = scrubbed.replace(SECRET_QUERY_PARAMETER, `$1$2=${REDACTED}`);
  return scrubbed.replace(AUTHORIZATION_VALUE, `$1 ${REDACTED}`);
}

/** `token=...`, `api_key: ...` anywhere in a header value (user agents are free text, not query strings). */
const SECRET_FIELD =
  /(^|[\s(;,])((?:[a-z0-9_-]*[_-])?(?:api[_-]?key|apikey|key|token|secret|password|passwd|pwd|pass|auth|credentials?|signature|sig|session(?:[_-]?id)?))(\s*[=:]\s*)([^\s;,)"'<>]+)/gi;

/** {@link scrub} for free-text header values (`User-Agent`): also `name=secret` outside a query string. */
export function scrubHeaderValue(text: string): string {
  const scrubbed = scrub(text);
  return /[=:]/.test(scrubbed) ? scrubbed.replace(SECRET_FIELD, `$1$2$3${REDACTED}`) : scrubbed;
}

/** Like {@link scrub}, for values that may not be strings. */
export function scrubValue<T>(value: T): T {
  return (typeof value === 'string' ? scrub(value) : value) as T;
}
