/*
 * Model-management calls (pull, push, create, delete, copy, list, show, ps, version, webSearch, webFetch):
 * `ollama.{operation} {model}` CLIENT spans and the `ollama.client.operation.duration` histogram, no GenAI
 * attributes or metrics. Streamed progress (pull, push, create) is summarised on the span (final status,
 * layers, bytes) with a few throttled progress events.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { nonEmptyString, withAttribute } from './attributes.js';
import type { CallDescription, CallRecorder, CallState, ManagementCallInit, Outcome } from './observation.js';
import { scrub } from './scrub.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_OLLAMA_COPY_DESTINATION,
  ATTR_OLLAMA_MODEL_COUNT,
  ATTR_OLLAMA_MODEL_NAME,
  ATTR_OLLAMA_OPERATION_NAME,
  ATTR_OLLAMA_OPERATION_STATUS,
  ATTR_OLLAMA_PROGRESS_COMPLETED_BYTES,
  ATTR_OLLAMA_PROGRESS_DIGEST,
  ATTR_OLLAMA_PROGRESS_LAYERS,
  ATTR_OLLAMA_PROGRESS_STATUS,
  ATTR_OLLAMA_PROGRESS_TOTAL_BYTES,
  ATTR_OLLAMA_PROGRESS_UPDATES,
  ATTR_OLLAMA_SERVER_VERSION,
  EVENT_OLLAMA_PROGRESS,
} from './semconv.js';

/** At most this many `ollama.progress` span events per operation. */
export const MAX_PROGRESS_EVENTS = 20;
/** Events kept for status changes (`pulling <layer>`, `verifying sha256 digest`, `success`...). */
const EVENTS_RESERVED_FOR_STATUS_CHANGES = 8;
/** Repeated updates of one status (download progress) are recorded at most this often. */
const PROGRESS_EVENT_INTERVAL_MS = 1000;
const MAX_LAYERS_RECORDED = 32;
const STATUS_SUCCESS = 'success';

type Loose = Record<string, unknown>;

interface Layer {
  total: number;
  completed: number;
}

/** `ollama.pull llama3.2`, `ollama.list`; the caller gives the server the call is sent to. */
export function describeManagementCall(init: ManagementCallInit): CallDescription {
  const metricAttributes = managementAttributes(init.operationName, init.server);
  const spanAttributes: Attributes = { ...metricAttributes };
  const model = init.model === undefined ? undefined : scrub(init.model);
  if (model !== undefined) spanAttributes[ATTR_OLLAMA_MODEL_NAME] = model;
  if (init.destination !== undefined) spanAttributes[ATTR_OLLAMA_COPY_DESTINATION] = scrub(init.destination);
  const name = `ollama.${init.operationName}`;
  return { spanName: model === undefined ? name : `${name} ${model}`, spanAttributes, metricAttributes };
}

const managementByServer = new WeakMap<Attributes, Map<string, Attributes>>();

/** `ollama.operation.name` plus the server attributes; cached, frozen. */
function managementAttributes(operationName: string, server: Attributes): Attributes {
  let byOperation = managementByServer.get(server);
  if (byOperation === undefined) {
    byOperation = new Map();
    managementByServer.set(server, byOperation);
  }
  let attributes = byOperation.get(operationName);
  if (attributes === undefined) {
    attributes = Object.freeze({ [ATTR_OLLAMA_OPERATION_NAME]: operationName, ...server });
    byOperation.set(operationName, attributes);
  }
  return attributes;
}

export class ManagementRecorder implements CallRecorder {
  private updates = 0;
  private status: string | undefined;
  private layers: Map<string, Layer> | undefined;
  private events = 0;
  private lastEventAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly call: CallState) {}

  chunk(chunk: unknown, now: number): boolean {
    if (chunk === undefined) return false;
    const progress = asLoose(chunk) ?? {};
    this.updates++;
    if (this.call.span.isRecording()) this.track(progress, now);
    return progress.status === STATUS_SUCCESS;
  }

  end(outcome: Outcome, endedAt: number, _endTime: HrTime): void {
    const { host, span, startedAt, metricAttributes } = this.call;
    if (span.isRecording()) span.setAttributes(this.summary(asLoose(outcome.response)));
    const attributes = withAttribute(metricAttributes, ATTR_ERROR_TYPE, outcome.errorType);
    host.instruments.managementOperationDuration.record((endedAt - startedAt) / 1000, attributes);
  }

  private track(progress: Loose, now: number): void {
    const status = nonEmptyString(progress.status);
    const digest = nonEmptyString(progress.digest);
    if (digest !== undefined) this.trackLayer(digest, progress);
    const changed = status !== undefined && status !== this.status;
    if (status !== undefined) this.status = status;
    if (!this.wantsEvent(changed, now)) return;
    this.events++;
    this.lastEventAt = now;
    const attributes: Attributes = {};
    if (status !== undefined) attributes[ATTR_OLLAMA_PROGRESS_STATUS] = scrub(status);
    if (digest !== undefined) attributes[ATTR_OLLAMA_PROGRESS_DIGEST] = digest;
    if (isCount(progress.completed)) attributes[ATTR_OLLAMA_PROGRESS_COMPLETED_BYTES] = progress.completed;
    if (isCount(progress.total)) attributes[ATTR_OLLAMA_PROGRESS_TOTAL_BYTES] = progress.total;
    this.call.span.addEvent(EVENT_OLLAMA_PROGRESS, attributes, this.call.clock.at(now));
  }

  /** Every status change while the budget lasts; repeated updates of one status only now and then. */
  private wantsEvent(statusChanged: boolean, now: number): boolean {
    if (statusChanged) return this.events < MAX_PROGRESS_EVENTS;
    return (
      this.events < MAX_PROGRESS_EVENTS - EVENTS_RESERVED_FOR_STATUS_CHANGES &&
      now - this.lastEventAt >= PROGRESS_EVENT_INTERVAL_MS
    );
  }

  private trackLayer(digest: string, progress: Loose): void {
    if (this.layers === undefined) this.layers = new Map();
    let layer = this.layers.get(digest);
    if (layer === undefined) {
      if (this.layers.size >= MAX_LAYERS_RECORDED) return;
      layer = { total: 0, completed: 0 };
      this.layers.set(digest, layer);
    }
    if (isCount(progress.total)) layer.total = progress.total;
    if (isCount(progress.completed)) layer.completed = Math.max(layer.completed, progress.completed);
  }

  private summary(response: Loose | undefined): Attributes {
    const attributes: Attributes = {};
    const status = nonEmptyString(response?.status) ?? this.status;
    if (status !== undefined) attributes[ATTR_OLLAMA_OPERATION_STATUS] = scrub(status);
    if (this.updates > 0) attributes[ATTR_OLLAMA_PROGRESS_UPDATES] = this.updates;
    if (this.layers !== undefined && this.layers.size > 0) {
      let total = 0;
      let completed = 0;
      for (const layer of this.layers.values()) {
        total += layer.total;
        completed += layer.completed;
      }
      attributes[ATTR_OLLAMA_PROGRESS_LAYERS] = [...this.layers.keys()];
      attributes[ATTR_OLLAMA_PROGRESS_TOTAL_BYTES] = total;
      attributes[ATTR_OLLAMA_PROGRESS_COMPLETED_BYTES] = completed;
    }
    if (Array.isArray(response?.models)) attributes[ATTR_OLLAMA_MODEL_COUNT] = response.models.length;
    const version = nonEmptyString(response?.version);
    if (version !== undefined) attributes[ATTR_OLLAMA_SERVER_VERSION] = version;
    return attributes;
  }
}

function asLoose(value: unknown): Loose | undefined {
  return typeof value === 'object' && value !== null ? (value as Loose) : undefined;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
