/*
 * The configuration as observations use it: defaults applied, the content-capture and semconv-stability
 * environment variables read, every value validated. An invalid value is reported once through the diag logger
 * and replaced by its default (or clamped into range); configuration never throws and never makes Node print
 * a warning of its own. Resolved again only when the config object changes.
 */
import type { DiagLogger } from '@opentelemetry/api';
import type {
  ContentCaptureMode,
  ContentHook,
  OllamaInstrumentationConfig,
  OllamaRequestHook,
  OllamaResponseHook,
} from '../types.js';
import { DEFAULT_MAX_UNLISTED_MODEL_NAMES } from './model-names.js';
import { SEMCONV_STABILITY_OPT_IN_GEN_AI_LATEST_EXPERIMENTAL } from './semconv.js';

export const ENV_CAPTURE_MESSAGE_CONTENT = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
export const ENV_SEMCONV_STABILITY_OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN';
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
/** The longest delay `setTimeout` takes; longer ones fire at once (with a `TimeoutOverflowWarning`). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
export const DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024;
/** The smallest bound that still leaves room for a message, its role and the truncation markers. */
export const MIN_MAX_CONTENT_LENGTH = 128;
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
  /** `undefined`: decide by the runtime (on in Node, off in browsers). */
  readonly propagateContext: boolean | undefined;
  readonly requestHook: OllamaRequestHook | undefined;
  readonly responseHook: OllamaResponseHook | undefined;
  /** 0: no idle timer. */
  readonly streamIdleTimeoutMs: number;
  /**
   * `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`: the GenAI client metrics are the latest
   * experimental (genai-repo) ones instead of the v1.41 ones.
   */
  readonly genAiLatestExperimental: boolean;
  /** Model names always recorded as they are on metrics. */
  readonly metricModelNames: ReadonlySet<string>;
  readonly maxUnlistedModelNames: number;
}

export function resolveSettings(configured: unknown, diag: DiagLogger): Settings {
  const config = configObject(configured, diag);
  const mode = captureMode(config.captureMessageContent, readEnv(ENV_CAPTURE_MESSAGE_CONTENT), diag);
  const coldStartMs = check(config.coldStartThresholdMs, 'coldStartThresholdMs', isNonNegative, diag);
  return Object.freeze({
    content:
      mode === 'NO_CONTENT'
        ? undefined
        : Object.freeze({
            onSpan: mode === 'SPAN_ONLY' || mode === 'SPAN_AND_EVENT',
            onEvent: mode === 'EVENT_ONLY' || mode === 'SPAN_AND_EVENT',
            maxLength: maxContentLength(config.maxContentLength, diag),
            hook: check(config.contentHook, 'contentHook', isFunction, diag),
          }),
    serverPhaseSpans: check(config.serverPhaseSpans, 'serverPhaseSpans', isBoolean, diag) ?? true,
    coldStartThresholdNs: (coldStartMs ?? DEFAULT_COLD_START_THRESHOLD_MS) * NANOSECONDS_PER_MILLISECOND,
    managementSpans: check(config.managementSpans, 'managementSpans', isBoolean, diag) ?? true,
    propagateContext: check(config.propagateContext, 'propagateContext', isBoolean, diag),
    requestHook: check(config.requestHook, 'requestHook', isFunction, diag),
    responseHook: check(config.responseHook, 'responseHook', isFunction, diag),
    streamIdleTimeoutMs: streamIdleTimeout(config.streamIdleTimeoutMs, diag),
    genAiLatestExperimental: genAiLatestExperimental(readEnv(ENV_SEMCONV_STABILITY_OPT_IN)),
    metricModelNames: modelNameList(config.metricModelNames, diag),
    maxUnlistedModelNames:
      check(config.maxUnlistedModelNames, 'maxUnlistedModelNames', isNonNegativeInteger, diag) ??
      DEFAULT_MAX_UNLISTED_MODEL_NAMES,
  });
}

/**
 * Whether the comma-separated opt-in list contains the exact token `gen_ai_latest_experimental` (surrounding
 * spaces and case ignored). The GenAI conventions define no `/dup` form, so `gen_ai_latest_experimental/dup`
 * does not opt in.
 */
export function genAiLatestExperimental(optIn: string | undefined): boolean {
  if (typeof optIn !== 'string') return false;
  return optIn
    .split(',')
    .some((token) => token.trim().toLowerCase() === SEMCONV_STABILITY_OPT_IN_GEN_AI_LATEST_EXPERIMENTAL);
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
    diag.warn(`ignoring captureMessageContent=${describe(configured)}: expected a boolean or ${MODES.join(', ')}`);
    return 'NO_CONTENT';
  }
  return fromConfig;
}

function configObject(configured: unknown, diag: DiagLogger): OllamaInstrumentationConfig {
  if (configured === undefined || configured === null) return {};
  if (typeof configured === 'object') return configured as OllamaInstrumentationConfig;
  diag.warn(`ignoring the configuration ${describe(configured)}: expected an object; using the defaults`);
  return {};
}

function streamIdleTimeout(value: unknown, diag: DiagLogger): number {
  const timeout = check(value, 'streamIdleTimeoutMs', isNonNegative, diag);
  if (timeout === undefined) return DEFAULT_STREAM_IDLE_TIMEOUT_MS;
  if (timeout > MAX_TIMER_DELAY_MS) {
    diag.warn(`streamIdleTimeoutMs=${timeout} is above the longest timer delay; using ${MAX_TIMER_DELAY_MS}`);
    return MAX_TIMER_DELAY_MS;
  }
  return Math.round(timeout);
}

function maxContentLength(value: unknown, diag: DiagLogger): number {
  const length = check(value, 'maxContentLength', isPositiveInteger, diag);
  if (length === undefined) return DEFAULT_MAX_CONTENT_LENGTH;
  if (length < MIN_MAX_CONTENT_LENGTH) {
    diag.warn(`maxContentLength=${length} cannot hold a message; using ${MIN_MAX_CONTENT_LENGTH}`);
    return MIN_MAX_CONTENT_LENGTH;
  }
  return length;
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

interface Check<T> {
  (value: unknown): value is T;
  expected: string;
}

function check<T>(value: unknown, name: string, valid: Check<T>, diag: DiagLogger): T | undefined {
  if (value === undefined) return undefined;
  if (valid(value)) return value;
  diag.warn(`ignoring ${name}=${describe(value)}: expected ${valid.expected}; using the default`);
  return undefined;
}

const isBoolean = Object.assign((value: unknown): value is boolean => typeof value === 'boolean', {
  expected: 'a boolean',
});
const isFunction = Object.assign(<T>(value: unknown): value is T => typeof value === 'function', {
  expected: 'a function',
}) as Check<never>;
const isNonNegative = Object.assign(
  (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0,
  { expected: 'a finite number >= 0' },
);
const isNonNegativeInteger = Object.assign(
  (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0,
  { expected: 'an integer >= 0' },
);
const isStringList = Object.assign(
  (value: unknown): value is string[] => Array.isArray(value) && value.every((name) => typeof name === 'string'),
  { expected: 'an array of strings' },
);

function modelNameList(value: unknown, diag: DiagLogger): ReadonlySet<string> {
  return new Set(check(value, 'metricModelNames', isStringList, diag) ?? []);
}

const isPositiveInteger = Object.assign(
  (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value > 0,
  { expected: 'a positive integer' },
);

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
