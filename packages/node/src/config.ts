/**
 * Turns {@link TelemetryOptions} plus environment variables into one resolved configuration.
 * Pure: reads only the `env` object it is given, so the precedence rules are testable without a process.
 *
 * Precedence (documented in the README): an option given in code, then its variable, then the default.
 * Exceptions, where the OpenTelemetry specification puts the variable first:
 * - `OTEL_SDK_DISABLED=true` disables the SDK whatever the code says;
 * - signal-specific variables (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`) win over the generic one.
 * Endpoints, headers, timeouts, TLS and compression that are not given in code are left to the OTLP exporters,
 * which read `OTEL_EXPORTER_OTLP_*` themselves (per-signal endpoints as is, the generic one plus `/v1/<signal>`).
 */
import { DiagLogLevel } from '@opentelemetry/api';
import type {
  LogsExporterName,
  MetricsExporterName,
  OllamaServerMetricsOptions,
  OtlpProtocol,
  OtlpSignalOptions,
  TelemetryOptions,
  TracesExporterName,
} from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;
export type Signal = 'traces' | 'metrics' | 'logs';

export interface ResolvedOtlp {
  protocol: OtlpProtocol;
  /** Full URL for the exporter, or undefined to let the exporter read the environment / use its default. */
  url: string | undefined;
  headers: Record<string, string> | undefined;
}

/** One polled Ollama server. */
export interface ResolvedServer {
  /** Base URL, no trailing slash, e.g. `http://127.0.0.1:11434`. */
  baseUrl: string;
  /** `server.address` / `server.port` attributes. */
  address: string;
  port: number;
}

/** The first server's fields, plus every polled server (one or more, no duplicates) in `servers`. */
export interface ResolvedServerMetrics extends ResolvedServer {
  servers: ResolvedServer[];
  minIntervalMillis: number;
  timeoutMillis: number;
  headers: Record<string, string>;
}

export interface ResolvedConfig {
  disabled: boolean;
  logLevel: DiagLogLevel | undefined;
  serviceName: string | undefined;
  serviceVersion: string | undefined;
  ollamaInstrumentation: boolean;
  /** `OLLAMA_OTEL_PROPAGATE_CONTEXT`; undefined leaves it to the instrumentation (or the code's option). */
  propagateContext: boolean | undefined;
  traces: { exporters: Exclude<TracesExporterName, 'none'>[]; otlp: ResolvedOtlp };
  metrics: {
    exporters: Exclude<MetricsExporterName, 'none'>[];
    otlp: ResolvedOtlp;
    intervalMillis: number;
    timeoutMillis: number;
    prometheus: { host: string; port: number };
  };
  logs: { exporters: Exclude<LogsExporterName, 'none'>[]; otlp: ResolvedOtlp };
  httpInstrumentation: boolean;
  hostMetrics: boolean;
  hostNetworkMetrics: boolean;
  runtimeMetrics: boolean;
  serverMetrics: ResolvedServerMetrics | undefined;
  gracefulShutdown: boolean;
  shutdownTimeoutMillis: number;
  esmLoaderHook: false | 'auto' | 'sync' | 'async';
  /** Problems found while resolving (bad values that fell back to a default), for the diag logger. */
  warnings: string[];
}

export const DEFAULTS = {
  protocol: 'grpc' as OtlpProtocol,
  metricExportIntervalMillis: 60_000,
  metricExportTimeoutMillis: 30_000,
  prometheusHost: 'localhost',
  prometheusPort: 9464,
  ollamaHost: 'http://127.0.0.1:11434',
  ollamaPort: 11434,
  serverMetricsMinIntervalMillis: 15_000,
  serverMetricsTimeoutMillis: 2_000,
  shutdownTimeoutMillis: 5_000,
} as const;

const PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];
const SIGNAL_PATHS: Record<Signal, string> = { traces: 'v1/traces', metrics: 'v1/metrics', logs: 'v1/logs' };

const LOG_LEVELS: Record<string, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

export function resolveConfig(options: TelemetryOptions = {}, env: Env = process.env): ResolvedConfig {
  const warnings: string[] = [];
  const read = new EnvReader(env, warnings);

  const serverOptions = normalizeServerOptions(options.ollamaServerMetrics);
  const instrumentationToggles = new InstrumentationToggles(env);

  const metricsIntervalMillis =
    positive(options.metricExportIntervalMillis, 'metricExportIntervalMillis', warnings) ??
    read.positiveNumber('OTEL_METRIC_EXPORT_INTERVAL') ??
    DEFAULTS.metricExportIntervalMillis;
  const metricsTimeoutMillis = Math.min(
    positive(options.metricExportTimeoutMillis, 'metricExportTimeoutMillis', warnings) ??
      read.positiveNumber('OTEL_METRIC_EXPORT_TIMEOUT') ??
      DEFAULTS.metricExportTimeoutMillis,
    metricsIntervalMillis,
  );

  const serverEnabled =
    serverOptions.enabled ??
    read.boolean('OLLAMA_OTEL_SERVER_METRICS') ??
    instrumentationToggles.enabled('ollama-server') ??
    true;

  return {
    disabled: read.boolean('OTEL_SDK_DISABLED') === true || options.disabled === true,
    logLevel: resolveLogLevel(options.logLevel, env.OTEL_LOG_LEVEL, warnings),
    serviceName: nonEmpty(options.serviceName),
    serviceVersion: nonEmpty(options.serviceVersion),
    ollamaInstrumentation: options.ollamaInstrumentation?.enabled ?? instrumentationToggles.enabled('ollama') ?? true,
    propagateContext: options.ollamaInstrumentation?.propagateContext ?? read.boolean('OLLAMA_OTEL_PROPAGATE_CONTEXT'),
    traces: {
      exporters: resolveExporters<TracesExporterName>(
        options.tracesExporter,
        env.OTEL_TRACES_EXPORTER,
        ['otlp', 'console'],
        'OTEL_TRACES_EXPORTER',
        warnings,
      ),
      otlp: resolveOtlp('traces', options, env, warnings),
    },
    metrics: {
      exporters: resolveExporters<MetricsExporterName>(
        options.metricsExporter,
        env.OTEL_METRICS_EXPORTER,
        ['otlp', 'console', 'prometheus'],
        'OTEL_METRICS_EXPORTER',
        warnings,
      ),
      otlp: resolveOtlp('metrics', options, env, warnings),
      intervalMillis: metricsIntervalMillis,
      timeoutMillis: metricsTimeoutMillis,
      prometheus: {
        host:
          nonEmpty(options.prometheus?.host) ?? nonEmpty(env.OTEL_EXPORTER_PROMETHEUS_HOST) ?? DEFAULTS.prometheusHost,
        port:
          port(options.prometheus?.port, 'prometheus.port', warnings) ??
          read.port('OTEL_EXPORTER_PROMETHEUS_PORT') ??
          DEFAULTS.prometheusPort,
      },
    },
    logs: {
      exporters: resolveExporters<LogsExporterName>(
        options.logsExporter,
        env.OTEL_LOGS_EXPORTER,
        ['otlp', 'console'],
        'OTEL_LOGS_EXPORTER',
        warnings,
      ),
      otlp: resolveOtlp('logs', options, env, warnings),
    },
    httpInstrumentation:
      options.httpInstrumentation ??
      read.boolean('OLLAMA_OTEL_HTTP_INSTRUMENTATION') ??
      instrumentationToggles.enabled('http') ??
      true,
    hostMetrics:
      options.hostMetrics ??
      read.boolean('OLLAMA_OTEL_HOST_METRICS') ??
      instrumentationToggles.enabled('host-metrics') ??
      true,
    hostNetworkMetrics: options.hostNetworkMetrics ?? read.boolean('OLLAMA_OTEL_HOST_NETWORK_METRICS') ?? false,
    runtimeMetrics:
      options.runtimeMetrics ??
      read.boolean('OLLAMA_OTEL_RUNTIME_METRICS') ??
      instrumentationToggles.enabled('runtime-node') ??
      true,
    serverMetrics: serverEnabled ? resolveServerMetrics(serverOptions, env, read, warnings) : undefined,
    gracefulShutdown: options.gracefulShutdown ?? read.boolean('OLLAMA_OTEL_GRACEFUL_SHUTDOWN') ?? true,
    shutdownTimeoutMillis:
      positive(options.shutdownTimeoutMillis, 'shutdownTimeoutMillis', warnings) ??
      read.positiveNumber('OLLAMA_OTEL_SHUTDOWN_TIMEOUT') ??
      DEFAULTS.shutdownTimeoutMillis,
    esmLoaderHook: resolveLoaderHook(options.esmLoaderHook, env.OLLAMA_OTEL_ESM_LOADER_HOOK, warnings),
    warnings: [...new Set(warnings)],
  };
}

/**
 * Parses `OLLAMA_HOST` the way the Ollama clients do: scheme optional (`http`), port optional (11434 without a
 * scheme, else the scheme's default), `:11434` alone means 127.0.0.1; a path prefix (reverse proxy) is kept.
 * `0.0.0.0` / `::` (what a server listens on) are reached through the loopback address.
 */
export function parseOllamaHost(raw: string | undefined): { baseUrl: string; address: string; port: number } {
  let host = raw?.trim() || DEFAULTS.ollamaHost;
  let explicitScheme = host.includes('://');
  if (host.startsWith(':')) {
    host = `http://127.0.0.1${host}`;
    explicitScheme = true;
  }
  const url = new URL(explicitScheme ? host : `http://${host}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`unsupported scheme in Ollama host ${JSON.stringify(raw)}`);
  }
  let portNumber = url.port ? Number(url.port) : undefined;
  if (portNumber === undefined) {
    portNumber = explicitScheme ? (url.protocol === 'https:' ? 443 : 80) : DEFAULTS.ollamaPort;
  }
  let hostname = url.hostname;
  if (hostname === '0.0.0.0') hostname = '127.0.0.1';
  if (hostname === '[::]') hostname = '[::1]';
  const path = url.pathname.replace(/\/+$/, '');
  const address = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return { baseUrl: `${url.protocol}//${hostname}:${portNumber}${path}`, address, port: portNumber };
}

function resolveServerMetrics(
  options: OllamaServerMetricsOptions,
  env: Env,
  read: EnvReader,
  warnings: string[],
): ResolvedServerMetrics | undefined {
  const hosts = options.hosts ?? hostList(env.OLLAMA_OTEL_SERVER_METRICS_HOSTS);
  const servers: ResolvedServer[] = [];
  try {
    for (const host of hosts?.length ? hosts : [nonEmpty(options.host) ?? nonEmpty(env.OLLAMA_HOST)]) {
      const server = parseOllamaHost(host);
      if (!servers.some((s) => s.baseUrl === server.baseUrl)) servers.push(server);
    }
  } catch (err) {
    warnings.push(`Ollama server metrics disabled: cannot parse the Ollama host (${(err as Error).message})`);
    return undefined;
  }
  const [parsed] = servers as [ResolvedServer, ...ResolvedServer[]];
  const apiKey = nonEmpty(env.OLLAMA_API_KEY);
  return {
    ...parsed,
    servers,
    minIntervalMillis:
      nonNegative(options.minIntervalMillis, 'ollamaServerMetrics.minIntervalMillis', warnings) ??
      read.nonNegativeNumber('OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL') ??
      DEFAULTS.serverMetricsMinIntervalMillis,
    timeoutMillis:
      positive(options.timeoutMillis, 'ollamaServerMetrics.timeoutMillis', warnings) ??
      read.positiveNumber('OLLAMA_OTEL_SERVER_METRICS_TIMEOUT') ??
      DEFAULTS.serverMetricsTimeoutMillis,
    headers: options.headers ?? (apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
  };
}

/** `OLLAMA_OTEL_SERVER_METRICS_HOSTS`: hosts separated by commas or whitespace; undefined when empty. */
function hostList(raw: string | undefined): string[] | undefined {
  const hosts = raw?.split(/[\s,]+/).filter((h) => h !== '');
  return hosts?.length ? hosts : undefined;
}

function normalizeServerOptions(value: TelemetryOptions['ollamaServerMetrics']): OllamaServerMetricsOptions {
  if (value === undefined) return {};
  if (typeof value === 'boolean') return { enabled: value };
  return value;
}

function resolveOtlp(signal: Signal, options: TelemetryOptions, env: Env, warnings: string[]): ResolvedOtlp {
  const perSignal: OtlpSignalOptions = options.otlp?.[signal] ?? {};
  const generic: OtlpSignalOptions = options.otlp ?? {};
  const upper = signal.toUpperCase();

  const protocol =
    protocolOf(perSignal.protocol, `otlp.${signal}.protocol`, warnings) ??
    protocolOf(generic.protocol, 'otlp.protocol', warnings) ??
    protocolOf(env[`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`], `OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`, warnings) ??
    protocolOf(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'OTEL_EXPORTER_OTLP_PROTOCOL', warnings) ??
    DEFAULTS.protocol;

  let url = nonEmpty(perSignal.endpoint);
  if (url === undefined) {
    const base = nonEmpty(generic.endpoint);
    if (base !== undefined) url = protocol === 'grpc' ? base : appendSignalPath(base, signal);
  }
  const headers = perSignal.headers || generic.headers ? { ...generic.headers, ...perSignal.headers } : undefined;
  return { protocol, url, headers };
}

/** The OTLP/HTTP rule for a base endpoint: append `v1/<signal>` to its path. */
export function appendSignalPath(base: string, signal: Signal): string {
  return `${base.endsWith('/') ? base : `${base}/`}${SIGNAL_PATHS[signal]}`;
}

function protocolOf(value: string | undefined, source: string, warnings: string[]): OtlpProtocol | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if ((PROTOCOLS as readonly string[]).includes(trimmed)) return trimmed as OtlpProtocol;
  warnings.push(`${source}: unsupported OTLP protocol "${trimmed}" (expected ${PROTOCOLS.join(', ')}); ignored`);
  return undefined;
}

function resolveExporters<N extends string>(
  fromCode: N | N[] | undefined,
  fromEnv: string | undefined,
  known: readonly Exclude<N, 'none'>[],
  source: string,
  warnings: string[],
): Exclude<N, 'none'>[] {
  let names: string[];
  if (fromCode !== undefined) {
    names = Array.isArray(fromCode) ? fromCode : [fromCode];
    source = source.replace(/^OTEL_(\w+)_EXPORTER$/, (_m, s: string) => `${s.toLowerCase()}Exporter`);
  } else {
    names = (fromEnv ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (names.length === 0) names = ['otlp'];
  }
  if (names.includes('none')) {
    if (names.length > 1) warnings.push(`${source}: "none" given with other exporters; exporting nothing`);
    return [];
  }
  const result: Exclude<N, 'none'>[] = [];
  for (const name of names) {
    if ((known as readonly string[]).includes(name)) {
      if (!result.includes(name as Exclude<N, 'none'>)) result.push(name as Exclude<N, 'none'>);
    } else {
      warnings.push(`${source}: unsupported exporter "${name}" (expected ${[...known, 'none'].join(', ')}); ignored`);
    }
  }
  return result;
}

function resolveLoaderHook(
  fromCode: TelemetryOptions['esmLoaderHook'],
  fromEnv: string | undefined,
  warnings: string[],
): ResolvedConfig['esmLoaderHook'] {
  if (fromCode === false) return false;
  if (fromCode === 'sync' || fromCode === 'async') return fromCode;
  if (fromCode === true) return 'auto';
  const raw = fromEnv?.trim().toLowerCase();
  if (!raw || raw === 'true' || raw === '1') return 'auto';
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'sync' || raw === 'async') return raw;
  warnings.push(`OLLAMA_OTEL_ESM_LOADER_HOOK: expected true, false, sync or async, got "${fromEnv}"; ignored`);
  return 'auto';
}

function resolveLogLevel(
  fromCode: TelemetryOptions['logLevel'],
  fromEnv: string | undefined,
  warnings: string[],
): DiagLogLevel | undefined {
  if (typeof fromCode === 'number') return fromCode;
  for (const [value, source] of [
    [fromCode, 'logLevel'],
    [fromEnv, 'OTEL_LOG_LEVEL'],
  ] as const) {
    const trimmed = value?.trim().toLowerCase();
    if (!trimmed) continue;
    const level = LOG_LEVELS[trimmed];
    if (level !== undefined) return level;
    warnings.push(`${source}: unknown log level "${value}" (expected ${Object.keys(LOG_LEVELS).join(', ')}); ignored`);
  }
  return undefined;
}

/**
 * `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `OTEL_NODE_DISABLED_INSTRUMENTATIONS`, as auto-instrumentations-node
 * reads them: comma-separated short names; with an enabled list only those are on; the disabled list wins.
 * Names here: `ollama`, `http`, `runtime-node`, `host-metrics`, `ollama-server`.
 */
class InstrumentationToggles {
  private readonly enabledList: string[] | undefined;
  private readonly disabledList: string[];

  constructor(env: Env) {
    this.enabledList = list(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS);
    this.disabledList = list(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS) ?? [];
  }

  /** false when a list turns `name` off, undefined when neither list says anything about it. */
  enabled(name: string): boolean | undefined {
    if (this.disabledList.includes(name)) return false;
    if (this.enabledList !== undefined) return this.enabledList.includes(name) ? undefined : false;
    return undefined;
  }
}

function list(value: string | undefined): string[] | undefined {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^@opentelemetry\/instrumentation-/, ''))
    .filter((s) => s !== '');
  return items.length > 0 ? items : undefined;
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly warnings: string[],
  ) {}

  boolean(name: string): boolean | undefined {
    const raw = this.env[name]?.trim().toLowerCase();
    if (!raw) return undefined;
    if (raw === 'true' || raw === '1' || raw === 'yes' || raw === 'on') return true;
    if (raw === 'false' || raw === '0' || raw === 'no' || raw === 'off') return false;
    this.warnings.push(`${name}: expected true or false, got "${this.env[name]}"; ignored`);
    return undefined;
  }

  private number(name: string, ok: (n: number) => boolean, expected: string): number | undefined {
    const raw = this.env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isFinite(value) && ok(value)) return value;
    this.warnings.push(`${name}: expected ${expected}, got "${raw}"; ignored`);
    return undefined;
  }

  positiveNumber(name: string): number | undefined {
    return this.number(name, (n) => n > 0, 'a number greater than 0');
  }

  nonNegativeNumber(name: string): number | undefined {
    return this.number(name, (n) => n >= 0, 'a number of at least 0');
  }

  port(name: string): number | undefined {
    return this.number(name, isPort, 'a port number (0-65535)');
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65_535;
}

function positive(value: number | undefined, source: string, warnings: string[]): number | undefined {
  if (value === undefined) return undefined;
  if (Number.isFinite(value) && value > 0) return value;
  warnings.push(`${source}: expected a number greater than 0, got ${value}; ignored`);
  return undefined;
}

function nonNegative(value: number | undefined, source: string, warnings: string[]): number | undefined {
  if (value === undefined) return undefined;
  if (Number.isFinite(value) && value >= 0) return value;
  warnings.push(`${source}: expected a number of at least 0, got ${value}; ignored`);
  return undefined;
}

function port(value: number | undefined, source: string, warnings: string[]): number | undefined {
  if (value === undefined) return undefined;
  if (isPort(value)) return value;
  warnings.push(`${source}: expected a port number (0-65535), got ${value}; ignored`);
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
