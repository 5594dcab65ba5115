/*
 * The one Ollama server the proxy talks to: parsed once from `--upstream` / `OLLAMA_HOST` (in any form Ollama's
 * own CLI accepts). The proxy never connects anywhere else. Errors never quote the value: it may hold a secret.
 */
import { serverAttributes } from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';

export const DEFAULT_UPSTREAM = 'http://127.0.0.1:11434';
const OLLAMA_DEFAULT_PORT = 11434;

export interface Upstream {
  /** `http://host:port[/base]`, without credentials or a trailing slash. */
  readonly baseUrl: string;
  /** `http://host:port`: what the connection pool connects to. */
  readonly origin: string;
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port: number;
  /** A path prefix every request is sent under (`https://example.com/ollama` → `/ollama`); `''` for none. */
  readonly basePath: string;
  /** The `Host` header Ollama gets (it checks it against DNS rebinding when bound to loopback). */
  readonly hostHeader: string;
  /** `server.address`/`server.port` of every GenAI and management span. */
  readonly serverAttributes: Attributes;
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
    throw new Error('invalid upstream: expected a URL such as http://127.0.0.1:11434');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid upstream scheme ${JSON.stringify(url.protocol)}: only http:// and https:// are supported`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('invalid upstream: credentials in the URL are not supported (clients send their own headers)');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error('invalid upstream: no query string or fragment allowed');
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
  return Object.freeze({
    baseUrl,
    origin: `${protocol}//${hostname}:${port}`,
    protocol,
    hostname: hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    basePath,
    hostHeader: port === defaultPort ? hostname : `${hostname}:${port}`,
    serverAttributes: serverAttributes(baseUrl),
  });
}
