/** Model management routes: tags, ps, show, version, pull, push, create, copy, delete. */
import { createHash } from 'node:crypto';
import { rfc3339 } from './clock.js';
import type { Exchange } from './exchange.js';
import { type Fault, isStreamFault } from './faults.js';
import { canonicalModelName, cloneModel, type DoubleModel, syntheticModel } from './models.js';
import type { ModelRegistry } from './registry.js';
import {
  createProgress,
  errorBody,
  listedModelEntry,
  type ProgressLine,
  pullProgress,
  pushProgress,
  runningModelEntry,
  showResponse,
} from './responses.js';

type Body = Record<string, any>;

export interface ManagementContext {
  exchange: Exchange;
  registry: ModelRegistry;
  fault: Fault | undefined;
}

/** Pull/push/delete take `model`, or the deprecated `name` that ollama-js still sends. */
function modelField(body: Body): string | undefined {
  const name = body.model ?? body.name;
  return typeof name === 'string' && name.trim() !== '' ? name : undefined;
}

function notFound(exchange: Exchange, name: string): void {
  exchange.json(404, errorBody(`model '${name}' not found`));
}

export function handleTags({ exchange, registry }: ManagementContext): void {
  exchange.json(200, { models: registry.list().map(listedModelEntry) });
}

export function handlePs({ exchange, registry }: ManagementContext): void {
  exchange.json(200, { models: registry.running().map(({ model, expiresAt }) => runningModelEntry(model, expiresAt)) });
}

export function handleVersion({ exchange }: ManagementContext, version: string): void {
  exchange.json(200, { version });
}

export function handleShow({ exchange, registry }: ManagementContext, body: Body): void {
  const name = modelField(body);
  if (!name) {
    exchange.json(400, errorBody('model is required'));
    return;
  }
  const model = registry.find(name);
  if (model) exchange.json(200, showResponse(model));
  else notFound(exchange, name);
}

export async function handlePull(ctx: ManagementContext, body: Body): Promise<void> {
  const name = modelField(body);
  if (!name) {
    ctx.exchange.json(400, errorBody('model is required'));
    return;
  }
  const model = ctx.registry.find(name) ?? syntheticModel(name, digestOf(name), rfc3339());
  ctx.registry.add(model);
  await answerProgress(ctx, body, pullProgress(model));
}

export async function handlePush(ctx: ManagementContext, body: Body): Promise<void> {
  const name = modelField(body);
  if (!name) {
    ctx.exchange.json(400, errorBody('model is required'));
    return;
  }
  const model = ctx.registry.find(name);
  if (!model) return notFound(ctx.exchange, name);
  await answerProgress(ctx, body, pushProgress(model));
}

export async function handleCreate(ctx: ManagementContext, body: Body): Promise<void> {
  const name = modelField(body);
  if (!name) {
    ctx.exchange.json(400, errorBody('model is required'));
    return;
  }
  const hasFiles = body.files && typeof body.files === 'object' && Object.keys(body.files).length > 0;
  if (typeof body.from !== 'string' && !hasFiles) {
    ctx.exchange.json(400, errorBody("neither 'from' or 'files' was specified"));
    return;
  }
  const base =
    typeof body.from === 'string'
      ? ctx.registry.find(body.from)
      : syntheticModel(name, digestOf(JSON.stringify(body.files)), rfc3339());
  if (!base) return notFound(ctx.exchange, body.from);
  const created = derivedModel(base, name, typeof body.from === 'string' ? base.name : '');
  ctx.registry.add(created);
  await answerProgress(ctx, body, createProgress(base, created));
}

export function handleCopy({ exchange, registry }: ManagementContext, body: Body): void {
  const { source, destination } = body;
  if (typeof source !== 'string' || typeof destination !== 'string' || !source || !destination) {
    exchange.json(400, errorBody('source and destination are required'));
    return;
  }
  const model = registry.find(source);
  if (!model) {
    notFound(exchange, source);
    return;
  }
  registry.add({ ...cloneModel(model), name: canonicalModelName(destination), modifiedAt: rfc3339() });
  exchange.empty();
}

export function handleDelete({ exchange, registry }: ManagementContext, body: Body): void {
  const name = modelField(body);
  if (!name) {
    exchange.json(400, errorBody('model is required'));
    return;
  }
  if (registry.remove(name)) exchange.empty();
  else notFound(exchange, name);
}

function derivedModel(base: DoubleModel, name: string, parent: string): DoubleModel {
  const model = cloneModel(base);
  model.name = canonicalModelName(name);
  model.digest = digestOf(`${name}:${base.digest}`);
  model.modifiedAt = rfc3339();
  model.details.parent_model = parent;
  return model;
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Streams progress lines (default) or answers `{"status":"success"}` when `stream: false`. */
async function answerProgress(
  { exchange, fault }: ManagementContext,
  body: Body,
  lines: ProgressLine[],
): Promise<void> {
  if (body.stream === false) {
    exchange.json(200, { status: 'success' });
    return;
  }
  const stream = exchange.ndjson(isStreamFault(fault) ? fault : undefined);
  for (const [i, line] of lines.entries()) {
    if (i === lines.length - 1) await stream.end(line);
    else await stream.write(line);
  }
}
