/*
 * What only the proxy answers (it could not reach Ollama, a body was too large or too slow, it is full), in the
 * error shape of the API the client called, so that its SDK raises its usual error with our message:
 * - native routes: Ollama's `{"error": "..."}`;
 * - `/v1/messages`: Anthropic's `{"type": "error", "error": {"type", "message"}}`;
 * - other `/v1/*` routes: OpenAI's `{"error": {"message", "type", "param", "code"}}`, as Ollama's compatibility layer.
 */
import type { ServerResponse } from 'node:http';

export type ErrorShape = 'ollama' | 'openai' | 'anthropic';

export function errorShapeOf(path: string): ErrorShape {
  if (path === '/v1/messages' || path.startsWith('/v1/messages/')) return 'anthropic';
  return path.startsWith('/v1/') ? 'openai' : 'ollama';
}

const ANTHROPIC_TYPES: Record<number, string> = {
  413: 'request_too_large',
  503: 'overloaded_error',
  504: 'timeout_error',
};

export function errorBody(shape: ErrorShape, status: number, message: string): string {
  if (shape === 'ollama') return JSON.stringify({ error: message });
  if (shape === 'anthropic') {
    const type = ANTHROPIC_TYPES[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error');
    return JSON.stringify({ type: 'error', error: { type, message } });
  }
  const type = status < 500 ? 'invalid_request_error' : 'api_error';
  return JSON.stringify({ error: { message, type, param: null, code: null } });
}

/** Answers `status` unless the response has started (then it is cut). `close`: end the connection after it. */
export function answerError(
  res: ServerResponse,
  status: number,
  message: string,
  options: { shape?: ErrorShape; close?: boolean } = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = errorBody(options.shape ?? 'ollama', status, message);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (options.close) headers.connection = 'close';
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(status, headers);
  res.end(body);
}
