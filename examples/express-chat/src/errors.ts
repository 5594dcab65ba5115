/** An error with the HTTP status and message the API answers with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Maps what Ollama (through ollama-js) threw to the API's answer: the model not found stays a 404 with Ollama's
 * message, an unreachable Ollama is a 503, other Ollama errors are a 502 (their status and message kept in the text).
 */
export function fromOllamaError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const { status_code: status, message } = (error ?? {}) as { status_code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : 'unknown error';
  if (typeof status === 'number') {
    if (status === 404) return new HttpError(404, text);
    if (status === 400) return new HttpError(400, text);
    if (status === 503) return new HttpError(503, `Ollama is busy: ${text}`);
    return new HttpError(502, `Ollama answered ${status}: ${text}`);
  }
  if (isUnreachable(error)) return new HttpError(503, 'Ollama is unreachable');
  return new HttpError(502, `Ollama request failed: ${text}`);
}

function isUnreachable(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return error.message === 'fetch failed' || ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET'].includes(code);
}
