/*
 * The one Ollama server the proxy talks to: parsed once from `--upstream` / `OLLAMA_HOST` (in any form Ollama's
 * own CLI accepts), with its pooled keep-alive agent. The proxy never connects anywhere else.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { serverAttributes } from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';

export const DEFAULT_UPSTREAM = 'http://127.0.0.1:11434';
const OLLAMA_DEFAULT_PORT = 11434;

export interface Upstream {
  /** `http://host:port[/base]`, without credentials or a trailing slash. */
  readonly baseUrl: string;
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port: number;
  /** A path prefix every request is sent under (`https://example.com/ollama` → `/ollama`); `''` for none. */
  readonly basePath: string;
  /** The `Host` header Ollama gets (it checks it against DNS rebinding when bound to loopback). */
  readonly hostHeader: string;
  /** `server.address`/`server.port` of every GenAI and management span. */
  readonly serverAttributes: Attributes;
  readonly agent: HttpAgent;
  readonly request: typeof httpRequest;
}

/**
 * `127.0.0.1:11434`, `http://gpu-box:11434`, `https://ollama.example.com/base`, `:11434`, `0.0.0.0` (reached
 * through loopback, as Ollama's CLI does). Throws a readable error for anything else.
 */
export function parseUpstream(raw: string): Upstream {
  let text = raw.trim();
  if (text === '') text = DEFAULT_UPSTREAM;
  if (text.startsWith(':')) text = `127.0.0.1${text}`;
  const explicitScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  let url: URL;
  try {
    url = new URL(explicitScheme ? text : `http://${text}`);
  } catch {
    throw new Error(`invalid upstream ${JSON.stringify(raw)}: expected a URL such as http://127.0.0.1:11434`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid upstream ${JSON.stringify(raw)}: only http:// and https:// are supported`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('invalid upstream: credentials in the URL are not supported (clients send their own headers)');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error(`invalid upstream ${JSON.stringify(raw)}: no query string or fragment allowed`);
  }
  const protocol = url.protocol;
  let hostname = url.hostname;
  if (hostname === '0.0.0.0') hostname = '127.0.0.1';
  if (hostname === '[::]') hostname = '[::1]';
  const port =
    url.port !== '' ? Number(url.port) : explicitScheme ? (protocol === 'https:' ? 443 : 80) : OLLAMA_DEFAULT_PORT;
  const basePath = url.pathname.replace(/\/+$/, '');
  const baseUrl = `${protocol}//${hostname}:${port}${basePath}`;
  const defaultPort = protocol === 'https:' ? 443 : 80;
  const agentOptions = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  return Object.freeze({
    baseUrl,
    protocol,
    hostname: hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    basePath,
    hostHeader: port === defaultPort ? hostname : `${hostname}:${port}`,
    serverAttributes: serverAttributes(baseUrl),
    agent: protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions),
    request: protocol === 'https:' ? (httpsRequest as typeof httpRequest) : httpRequest,
  });
}
