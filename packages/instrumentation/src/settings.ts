/*
 * The configuration as observations use it: defaults applied, the content-capture and semconv-stability
 * environment variables read, invalid values reported once through the diag logger. Resolved again only when the
 * config object changes.
 */
import type { DiagLogger } from '@opentelemetry/api';
import { SemconvStability, semconvStabilityFromStr } from '@opentelemetry/instrumentation';
import { SEMCONV_STABILITY_OPT_IN_GEN_AI_LATEST_EXPERIMENTAL } from './semconv.js';
import type {
  ContentCaptureMode,
  ContentHook,
  OllamaInstrumentationConfig,
  OllamaRequestHook,
  OllamaResponseHook,
} from './types.js';

export const ENV_CAPTURE_MESSAGE_CONTENT = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
export const ENV_SEMCONV_STABILITY_OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN';
const DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024;
const DEFAULT_COLD_START_THRESHOLD_MS = 500;
const NANOSECONDS_PER_MILLISECOND = 1e6;
const MODES: readonly ContentCaptureMode[] = ['NO_CONTENT', 'SPAN_ONLY', 'EVENT_ONLY', 'SPAN_AND_EVENT'];

export interface ContentSettings {
  readonly onSpan: boolean;
  readonly onEvent: boolean;
  readonly maxLength: number;
  readonly hook: ContentHook | undefined;
}

export interface Settings {
  /** `undefined` when content capture is off. */
  readonly content: ContentSettings | undefined;
  readonly serverPhaseSpans: boolean;
  readonly coldStartThresholdNs: number;
  readonly managementSpans: boolean;
  /** `undefined`: decide per client (on for Node clients, off for `ollama/browser` ones). */
  readonly propagateContext: boolean | undefined;
  readonly requestHook: OllamaRequestHook | undefined;
  readonly responseHook: OllamaResponseHook | undefined;
  /**
   * `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`: the GenAI client metrics are the latest
   * experimental (genai-repo) ones instead of the v1.41 ones.
   */
  readonly genAiLatestExperimental: boolean;
}

export function resolveSettings(config: OllamaInstrumentationConfig, diag: DiagLogger): Settings {
  const mode = captureMode(config.captureMessageContent, readEnv(ENV_CAPTURE_MESSAGE_CONTENT), diag);
  const coldStartMs = nonNegative(config.coldStartThresholdMs, 'coldStartThresholdMs', diag);
  return Object.freeze({
    content:
      mode === 'NO_CONTENT'
        ? undefined
        : Object.freeze({
            onSpan: mode === 'SPAN_ONLY' || mode === 'SPAN_AND_EVENT',
            onEvent: mode === 'EVENT_ONLY' || mode === 'SPAN_AND_EVENT',
            maxLength: positiveInteger(config.maxContentLength, 'maxContentLength', diag) ?? DEFAULT_MAX_CONTENT_LENGTH,
            hook: typeof config.contentHook === 'function' ? config.contentHook : undefined,
          }),
    serverPhaseSpans: config.serverPhaseSpans !== false,
    coldStartThresholdNs: (coldStartMs ?? DEFAULT_COLD_START_THRESHOLD_MS) * NANOSECONDS_PER_MILLISECOND,
    managementSpans: config.managementSpans !== false,
    propagateContext: typeof config.propagateContext === 'boolean' ? config.propagateContext : undefined,
    requestHook: typeof config.requestHook === 'function' ? config.requestHook : undefined,
    responseHook: typeof config.responseHook === 'function' ? config.responseHook : undefined,
    genAiLatestExperimental: genAiLatestExperimental(readEnv(ENV_SEMCONV_STABILITY_OPT_IN)),
  });
}

/**
 * Whether the comma-separated opt-in list contains the exact token `gen_ai_latest_experimental` (surrounding
 * spaces and case ignored). The GenAI conventions define no `/dup` form, so `gen_ai_latest_experimental/dup`
 * does not opt in.
 */
export function genAiLatestExperimental(optIn: string | undefined): boolean {
  return (
    semconvStabilityFromStr(SEMCONV_STABILITY_OPT_IN_GEN_AI_LATEST_EXPERIMENTAL, optIn) === SemconvStability.STABLE
  );
}

/**
 * The environment variable wins over the config. `true` means `SPAN_ONLY`: content lands where GenAI tools look
 * first, and nothing is recorded twice unless asked for.
 */
export function captureMode(configured: unknown, env: string | undefined, diag: DiagLogger): ContentCaptureMode {
  const fromEnv = env === undefined || env.trim() === '' ? undefined : parseMode(env.trim());
  if (env !== undefined && env.trim() !== '' && fromEnv === undefined) {
    diag.warn(
      `ignoring ${ENV_CAPTURE_MESSAGE_CONTENT}=${JSON.stringify(env)}: expected true, false or ${MODES.join(', ')}`,
    );
  }
  if (fromEnv !== undefined) return fromEnv;
  if (configured === undefined) return 'NO_CONTENT';
  const fromConfig = parseMode(configured);
  if (fromConfig === undefined) {
    diag.warn(
      `ignoring captureMessageContent=${JSON.stringify(configured)}: expected a boolean or ${MODES.join(', ')}`,
    );
    return 'NO_CONTENT';
  }
  return fromConfig;
}

function parseMode(value: unknown): ContentCaptureMode | undefined {
  if (value === true) return 'SPAN_ONLY';
  if (value === false) return 'NO_CONTENT';
  if (typeof value !== 'string') return undefined;
  const upper = value.toUpperCase();
  if (upper === 'TRUE') return 'SPAN_ONLY';
  if (upper === 'FALSE') return 'NO_CONTENT';
  return MODES.find((mode) => mode === upper);
}

function readEnv(name: string): string | undefined {
  return typeof process === 'object' && process !== null && typeof process.env === 'object'
    ? process.env[name]
    : undefined;
}

function positiveInteger(value: unknown, name: string, diag: DiagLogger): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  diag.warn(`ignoring ${name}=${String(value)}: expected a positive integer`);
  return undefined;
}

function nonNegative(value: unknown, name: string, diag: DiagLogger): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  diag.warn(`ignoring ${name}=${String(value)}: expected a non-negative number`);
  return undefined;
}
