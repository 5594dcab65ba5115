/*
 * The command line and its environment variables. Every flag has a variable; a flag wins over its variable.
 * Invalid values are errors with a message that says what is expected (the CLI prints it and exits 2).
 */
import {
  DEFAULT_BODY_IDLE_TIMEOUT_MILLIS,
  DEFAULT_DRAIN_DELAY_MILLIS,
  DEFAULT_GRACE_PERIOD_MILLIS,
  DEFAULT_HEADERS_TIMEOUT_MILLIS,
  DEFAULT_HOST,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MILLIS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_UNLISTED_MODELS,
  DEFAULT_PORT,
  DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MILLIS,
  DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MILLIS,
} from './server.js';
import { DEFAULT_UPSTREAM, parseUpstream } from './upstream.js';

export type MetricsMode = { kind: 'listener' } | { kind: 'off' } | { kind: 'own'; host: string; port: number };

export interface CliConfig {
  host: string;
  port: number;
  upstream: string;
  metrics: MetricsMode;
  gracePeriodMillis: number;
  maxBodyBytes: number;
  injectUsage: boolean;
  drainDelayMillis: number;
  headersTimeoutMillis: number;
  bodyIdleTimeoutMillis: number;
  keepAliveTimeoutMillis: number;
  upstreamHeadersTimeoutMillis: number;
  upstreamBodyIdleTimeoutMillis: number;
  /** `undefined`: derived from the descriptor limit. */
  maxConnections: number | undefined;
  models: string[];
  maxUnlistedModels: number;
  help: boolean;
  version: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

interface Flag {
  name: string;
  env: string;
  value: string;
  help: string;
}

/** The flags, in `--help` order; the README's table is this list. */
export const FLAGS: readonly Flag[] = [
  {
    name: 'listen',
    env: 'OLLAMA_OTEL_PROXY_LISTEN',
    value: 'HOST:PORT',
    help: `Where the proxy listens. Default ${DEFAULT_HOST}:${DEFAULT_PORT} (loopback: use 0.0.0.0:PORT to expose it).`,
  },
  {
    name: 'upstream',
    env: 'OLLAMA_OTEL_PROXY_UPSTREAM',
    value: 'URL',
    help: `The Ollama server. Default $OLLAMA_HOST, else ${DEFAULT_UPSTREAM}.`,
  },
  {
    name: 'metrics',
    env: 'OLLAMA_OTEL_PROXY_METRICS',
    value: 'listener|off|HOST:PORT',
    help: 'Prometheus GET /metrics: on the proxy listener (default), off, or on a listener of its own.',
  },
  {
    name: 'grace-period',
    env: 'OLLAMA_OTEL_PROXY_GRACE_PERIOD',
    value: 'DURATION',
    help: `On SIGTERM/SIGINT, how long in-flight requests may finish (e.g. 30s, 500ms). Default ${DEFAULT_GRACE_PERIOD_MILLIS / 1000}s.`,
  },
  {
    name: 'drain-delay',
    env: 'OLLAMA_OTEL_PROXY_DRAIN_DELAY',
    value: 'DURATION',
    help: `On SIGTERM, how long to keep accepting connections (answering each, then closing it) while /healthz answers 503, before draining: the time a load balancer or Kubernetes takes to stop sending traffic (e.g. 5s). Default ${seconds(DEFAULT_DRAIN_DELAY_MILLIS)}.`,
  },
  {
    name: 'header-timeout',
    env: 'OLLAMA_OTEL_PROXY_HEADER_TIMEOUT',
    value: 'DURATION',
    help: `A client must send its whole request head within this, or gets 408 and is disconnected. Default ${seconds(DEFAULT_HEADERS_TIMEOUT_MILLIS)}.`,
  },
  {
    name: 'body-timeout',
    env: 'OLLAMA_OTEL_PROXY_BODY_TIMEOUT',
    value: 'DURATION',
    help: `Longest pause between two pieces of a request body (then 408). Default ${seconds(DEFAULT_BODY_IDLE_TIMEOUT_MILLIS)}; 0 for none.`,
  },
  {
    name: 'keep-alive-timeout',
    env: 'OLLAMA_OTEL_PROXY_KEEP_ALIVE_TIMEOUT',
    value: 'DURATION',
    help: `An idle kept-alive client connection is closed after this. Default ${seconds(DEFAULT_KEEP_ALIVE_TIMEOUT_MILLIS)} (longer than the usual 60s of load balancers in front).`,
  },
  {
    name: 'upstream-header-timeout',
    env: 'OLLAMA_OTEL_PROXY_UPSTREAM_HEADER_TIMEOUT',
    value: 'DURATION',
    help: `Ollama must start its answer within this, or the client gets 504. A cold model load takes minutes and a non-streamed answer starts only when complete. Default ${seconds(DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MILLIS)}; 0 for none.`,
  },
  {
    name: 'upstream-body-timeout',
    env: 'OLLAMA_OTEL_PROXY_UPSTREAM_BODY_TIMEOUT',
    value: 'DURATION',
    help: `Longest pause between two chunks of Ollama's answer; then the client's response is cut. Default ${seconds(DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MILLIS)}; 0 for none.`,
  },
  {
    name: 'max-connections',
    env: 'OLLAMA_OTEL_PROXY_MAX_CONNECTIONS',
    value: 'N',
    help: 'Client connections open at once; one more is answered 503 at once. Default: half the descriptor limit (ulimit -n) less 64, at most 8192.',
  },
  {
    name: 'models',
    env: 'OLLAMA_OTEL_PROXY_MODELS',
    value: 'NAME,NAME...',
    help: 'Model names always recorded as they are on metrics, besides those Ollama lists (/api/tags, refreshed every minute).',
  },
  {
    name: 'max-unlisted-models',
    env: 'OLLAMA_OTEL_PROXY_MAX_UNLISTED_MODELS',
    value: 'N',
    help: `How many other distinct model names (typos, made-up names) are recorded as they are on metrics; later ones are recorded as _OTHER. Default ${DEFAULT_MAX_UNLISTED_MODELS}.`,
  },
  {
    name: 'max-body-size',
    env: 'OLLAMA_OTEL_PROXY_MAX_BODY_SIZE',
    value: 'SIZE',
    help: `Largest request body of a GenAI or model-management call (e.g. 64MiB); larger ones get 413. Default ${DEFAULT_MAX_BODY_BYTES / 1024 / 1024}MiB.`,
  },
  {
    name: 'inject-usage',
    env: 'OLLAMA_OTEL_PROXY_INJECT_USAGE',
    value: 'true|false',
    help: 'Ask Ollama for usage in OpenAI-compatible streams (and hide it from clients that did not ask). Default true.',
  },
];

export const HELP = `Usage: ollama-otel-proxy [options]

An OpenTelemetry reverse proxy in front of one Ollama server: GenAI spans and metrics for every client.

Options (each also as the environment variable shown):
${FLAGS.map((flag) => `  --${flag.name} ${flag.value}\n      ${flag.help}\n      env: ${flag.env}`).join('\n')}
  --no-inject-usage   Same as --inject-usage false.
  -h, --help          Show this help.
  -v, --version       Show the version.

Telemetry is configured with the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER,
OTEL_SERVICE_NAME, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, OTEL_SDK_DISABLED, ...).
`;

export function parseCli(argv: readonly string[], env: Env): CliConfig {
  const given = new Map<string, string>();
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') help = true;
    else if (arg === '-v' || arg === '--version') version = true;
    else if (arg === '--no-inject-usage') given.set('inject-usage', 'false');
    else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      if (!FLAGS.some((flag) => flag.name === name)) throw new ConfigError(`unknown option ${arg} (see --help)`);
      let value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined && name === 'inject-usage') value = 'true';
      if (value === undefined) throw new ConfigError(`--${name} needs a value (see --help)`);
      given.set(name, value);
    } else {
      throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (see --help)`);
    }
  }
  const read = (name: string): string | undefined => {
    const flag = FLAGS.find((each) => each.name === name)!;
    const value = given.get(name) ?? env[flag.env];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const listen = parseListen(read('listen') ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`, DEFAULT_PORT, '--listen');
  return {
    ...listen,
    upstream: validUpstream(read('upstream') ?? nonEmpty(env.OLLAMA_HOST) ?? DEFAULT_UPSTREAM),
    metrics: parseMetrics(read('metrics')),
    gracePeriodMillis: parseDuration(read('grace-period'), DEFAULT_GRACE_PERIOD_MILLIS),
    drainDelayMillis: parseDuration(read('drain-delay'), DEFAULT_DRAIN_DELAY_MILLIS, '--drain-delay'),
    headersTimeoutMillis: parseDuration(read('header-timeout'), DEFAULT_HEADERS_TIMEOUT_MILLIS, '--header-timeout'),
    bodyIdleTimeoutMillis: parseDuration(read('body-timeout'), DEFAULT_BODY_IDLE_TIMEOUT_MILLIS, '--body-timeout'),
    keepAliveTimeoutMillis: parseDuration(
      read('keep-alive-timeout'),
      DEFAULT_KEEP_ALIVE_TIMEOUT_MILLIS,
      '--keep-alive-timeout',
    ),
    upstreamHeadersTimeoutMillis: parseDuration(
      read('upstream-header-timeout'),
      DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MILLIS,
      '--upstream-header-timeout',
    ),
    upstreamBodyIdleTimeoutMillis: parseDuration(
      read('upstream-body-timeout'),
      DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MILLIS,
      '--upstream-body-timeout',
    ),
    maxConnections: parseCount(read('max-connections'), undefined, '--max-connections', 1),
    models: (read('models') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
    maxUnlistedModels: parseCount(
      read('max-unlisted-models'),
      DEFAULT_MAX_UNLISTED_MODELS,
      '--max-unlisted-models',
      0,
    ) as number,
    maxBodyBytes: parseSize(read('max-body-size'), DEFAULT_MAX_BODY_BYTES),
    injectUsage: parseBoolean(read('inject-usage'), true, '--inject-usage'),
    help,
    version,
  };
}

/** `HOST:PORT`, `[::1]:PORT`, `:PORT` and `PORT` (loopback), or `HOST` (default port). */
export function parseListen(value: string, defaultPort: number, what: string): { host: string; port: number } {
  const text = value.trim();
  if (/^\d+$/.test(text)) return { host: DEFAULT_HOST, port: port(text, what) };
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) return { host: bracketed[1] as string, port: port(bracketed[2], what, defaultPort) };
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: text, port: defaultPort };
  if (text.indexOf(':') !== colon) return { host: text, port: defaultPort };
  const host = text.slice(0, colon) || DEFAULT_HOST;
  return { host, port: port(text.slice(colon + 1), what) };
}

function port(text: string | undefined, what: string, fallback?: number): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`${what}: invalid port ${JSON.stringify(text)} (0-65535)`);
  }
  return value;
}

function parseMetrics(value: string | undefined): MetricsMode {
  if (value === undefined || value === 'listener' || value === 'on' || value === 'true') return { kind: 'listener' };
  if (value === 'off' || value === 'false' || value === 'none') return { kind: 'off' };
  return { kind: 'own', ...parseListen(value, 9464, '--metrics') };
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i;

/** `30s`, `500ms`, `2m`; a bare number is seconds. */
export function parseDuration(value: string | undefined, fallback: number, what = '--grace-period'): number {
  if (value === undefined) return fallback;
  const match = DURATION.exec(value);
  if (match === null) throw new ConfigError(`${what}: invalid duration ${JSON.stringify(value)} (e.g. 30s, 500ms)`);
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  return Math.round(amount * (unit === 'ms' ? 1 : unit === 'm' ? 60_000 : 1000));
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** `64MiB`, `10MB`, `512k`, or bytes. */
export function parseSize(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const match = SIZE.exec(value);
  if (match === null) throw new ConfigError(`--max-body-size: invalid size ${JSON.stringify(value)} (e.g. 64MiB)`);
  const bytes = Math.floor(Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] as number));
  if (bytes < 1) throw new ConfigError('--max-body-size: must be at least 1 byte');
  return bytes;
}

function parseCount<T extends number | undefined>(
  value: string | undefined,
  fallback: T,
  what: string,
  min: number,
): number | T {
  if (value === undefined) return fallback;
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < min) {
    throw new ConfigError(`${what}: expected a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return count;
}

function seconds(millis: number): string {
  return millis % 60_000 === 0 && millis > 0 ? `${millis / 60_000}m` : `${millis / 1000}s`;
}

function parseBoolean(value: string | undefined, fallback: boolean, what: string): boolean {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1' || lower === 'yes' || lower === 'on') return true;
  if (lower === 'false' || lower === '0' || lower === 'no' || lower === 'off') return false;
  throw new ConfigError(`${what}: expected true or false, got ${JSON.stringify(value)}`);
}

/** The upstream is checked with the flags, so a bad one is a usage error (exit 2); messages never quote it. */
function validUpstream(value: string): string {
  try {
    parseUpstream(value);
  } catch (error) {
    throw new ConfigError(`--upstream: ${(error as Error).message}`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
