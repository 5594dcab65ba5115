/** `error.type` for cancellations (consumer `break`, `abort()`, AbortError), distinct from failures. */
export const ERROR_TYPE_CANCELLED = 'cancelled';
/** `error.type` for a stream nobody read to its end within `streamIdleTimeoutMs`, or that was garbage collected. */
export const ERROR_TYPE_ABANDONED = 'abandoned';
/** `error.type` for a stream whose iterator finished without Ollama's final (`done`) chunk. */
export const ERROR_TYPE_INCOMPLETE = 'incomplete';
const ERROR_TYPE_OTHER = '_OTHER';

/** Node's system error codes (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`...). */
const SYSTEM_ERROR_CODE = /^E[A-Z0-9_]+$/;

/**
 * A low-cardinality `error.type`: the HTTP status of an Ollama `ResponseError` (e.g. `"404"`), `cancelled` for
 * aborts, a Node system error's code (`ECONNRESET`: what the proxy sees of a cut connection), otherwise the
 * error's class name (`TypeError` for a refused connection through `fetch`, `Error` for a mid-stream error line).
 */
export function errorType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return ERROR_TYPE_OTHER;
  const { name, status_code: statusCode, code } = error as { name?: unknown; status_code?: unknown; code?: unknown };
  if (name === 'AbortError') return ERROR_TYPE_CANCELLED;
  if (typeof statusCode === 'number' && Number.isInteger(statusCode)) return String(statusCode);
  if (typeof code === 'string' && SYSTEM_ERROR_CODE.test(code)) return code;
  const className = (error as { constructor?: { name?: unknown } }).constructor?.name;
  if (className === 'DOMException' && typeof name === 'string' && name !== '') return name;
  return typeof className === 'string' && className !== '' && className !== 'Object' ? className : ERROR_TYPE_OTHER;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}

/** `exception.type`: the error's `name` (`ResponseError`, `AbortError`, `TypeError`), else its class name. */
export function errorName(error: Error): string {
  if (typeof error.name === 'string' && error.name !== '') return error.name;
  const className = (error as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof className === 'string' && className !== '' ? className : 'Error';
}
