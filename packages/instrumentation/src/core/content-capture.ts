/*
 * Opt-in content of one GenAI call: accumulated across stream chunks by the format's content source, collected
 * once at the end, passed through the user's hook, bounded, then set on the span (JSON strings) and/or emitted
 * as one structured `gen_ai.client.inference.operation.details` log record in the span's context. The span
 * attributes and the log record carry the same bounded content.
 */
import {
  type Attributes,
  type Context,
  type DiagLogger,
  type HrTime,
  type Logger,
  SeverityNumber,
  type Span,
} from '@opentelemetry/api';
import type { MessageContent } from '../types.js';
import type { ContentSource, ResponseSummary } from './format.js';
import {
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_TOOL_DEFINITIONS,
  EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
} from './semconv.js';
import type { ContentSettings } from './settings.js';
import { boundEntries } from './truncation.js';

const FIELDS = [
  { key: 'inputMessages', attribute: ATTR_GEN_AI_INPUT_MESSAGES, messages: true },
  { key: 'outputMessages', attribute: ATTR_GEN_AI_OUTPUT_MESSAGES, messages: false },
  { key: 'systemInstructions', attribute: ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, messages: false },
  { key: 'toolDefinitions', attribute: ATTR_GEN_AI_TOOL_DEFINITIONS, messages: false },
] as const;

/** How the call ended, as far as content is concerned. */
export interface ContentOutcome {
  /** The complete response or the final chunk; `undefined` when the call did not finish. */
  response: unknown;
  summary: ResponseSummary | undefined;
  failed: boolean;
}

/** Where the content goes, read at the end of the call. */
export interface ContentSink {
  readonly span: Span;
  /** The span's context: the log record is emitted in it so that it correlates. */
  readonly context: Context;
  readonly logger: Logger;
  readonly diag: DiagLogger;
  /** The span's attributes worth repeating on the log record (operation, model, usage, error.type). */
  readonly eventAttributes: Attributes;
  readonly endTime: HrTime;
}

export class ContentCapture {
  constructor(
    private readonly settings: ContentSettings,
    private readonly source: ContentSource,
  ) {}

  chunk(chunk: unknown): void {
    this.source.chunk(chunk);
  }

  record(outcome: ContentOutcome, sink: ContentSink): void {
    const onSpan = this.settings.onSpan && sink.span.isRecording();
    const onEvent = this.settings.onEvent && loggerEnabled(sink);
    if (!onSpan && !onEvent) return;
    // A hook sees the whole content; without one, what cannot fit is not even built.
    const limit = this.settings.hook === undefined ? this.settings.maxLength : undefined;
    const collected = this.source.collect(outcome.response, outcome.summary, outcome.failed, limit);
    const content = this.applyHook(collected, sink);
    if (content === undefined) return;
    const json: Attributes = {};
    const structured: Attributes = {};
    for (const field of FIELDS) {
      const value = content[field.key];
      if (!Array.isArray(value) || value.length === 0) continue;
      const bounded = boundEntries(
        value as unknown as Record<string, unknown>[],
        this.settings.maxLength,
        field.messages,
      );
      json[field.attribute] = bounded.json;
      structured[field.attribute] = bounded.entries as unknown as Attributes[string];
    }
    if (onSpan) sink.span.setAttributes(json);
    if (onEvent) emitDetails(sink, structured);
  }

  /** The hook gets a copy, so that redacting in place never touches the caller's request objects. */
  private applyHook(content: MessageContent, sink: ContentSink): MessageContent | undefined {
    const hook = this.settings.hook;
    if (hook === undefined) return content;
    try {
      const copy = structuredClone(content);
      const rewritten = hook(copy, sink.span);
      if (typeof rewritten !== 'object' || rewritten === null || rewritten === copy) return copy;
      // Bounding edits entries in place: never the objects the hook may share with the application.
      return structuredClone(rewritten);
    } catch (error) {
      sink.diag.error('contentHook failed; no message content recorded for this call', error);
      return undefined;
    }
  }
}

function emitDetails(sink: ContentSink, content: Attributes): void {
  sink.logger.emit({
    eventName: EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
    timestamp: sink.endTime,
    severityNumber: SeverityNumber.INFO,
    context: sink.context,
    attributes: { ...sink.eventAttributes, ...content },
  });
}

function loggerEnabled(sink: ContentSink): boolean {
  const { logger } = sink;
  return (
    typeof logger.enabled !== 'function' ||
    logger.enabled({
      context: sink.context,
      severityNumber: SeverityNumber.INFO,
      eventName: EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
    })
  );
}
