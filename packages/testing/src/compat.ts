/*
 * Ollama's OpenAI- and Anthropic-compatible routes, built as Ollama builds them (`middleware/openai.go`,
 * `middleware/anthropic.go`): the request is translated to a native one, the native handler runs, and a writer
 * wrapped around the response translates what it writes — each NDJSON line into server-sent events, a whole JSON
 * body into the compatible shape, an error status into the API's error shape. Field order follows the Go structs
 * (maps, such as the Responses events, are written with sorted keys, as Go does).
 */
import type { ServerResponse } from 'node:http';

type Body = Record<string, any>;

/** What a compatible route does around a native one. */
export interface CompatRoute {
  nativePath: '/api/chat' | '/api/generate' | '/api/embed' | '/api/tags' | '/api/show';
  /** The native request body; throws {@link CompatRejected} for a request Ollama's middleware refuses. */
  translate(body: Body, path: string): Body;
  translator(body: Body, path: string): Translator;
}

export class CompatRejected extends Error {}

/** Turns what the native handler writes into the compatible API's bytes. */
interface Translator {
  /** A streamed native line (status 200): the SSE text to write. */
  line(native: Body): string;
  /** A whole native body (status 200). */
  whole(native: Body): string;
  /** A native error answer. */
  error(status: number, message: string): string;
}

const SSE = 'text/event-stream';
const JSON_TYPE = 'application/json; charset=utf-8';
const unix = () => Math.floor(Date.now() / 1000);
const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const named = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(sortKeys(data))}\n\n`;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Body)[key]);
  return out;
}

/** A response whose `writeHead`/`write`/`end` go through the translator; everything else is the real one. */
export function translatingResponse(res: ServerResponse, translator: Translator): ServerResponse {
  let status = 200;
  let streaming = false;
  let started = false;
  let pending = '';
  const head = (code: number, contentType: string) => {
    if (started) return;
    started = true;
    res.writeHead(code, { 'Content-Type': contentType });
  };
  const writeHead = (code: number, headers?: Record<string, string>) => {
    status = code;
    const type = headers?.['Content-Type'] ?? '';
    streaming = code === 200 && type.includes('ndjson');
    if (streaming) head(200, SSE);
    return res;
  };
  const translateLines = (text: string): string => {
    pending += text;
    let out = '';
    for (;;) {
      const end = pending.indexOf('\n');
      if (end < 0) break;
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.trim() !== '') out += translator.line(JSON.parse(line));
    }
    return out;
  };
  const write = (chunk: string, callback?: (error?: Error | null) => void) => {
    head(200, SSE);
    return res.write(translateLines(chunk), callback);
  };
  const end = (chunk?: string) => {
    if (streaming) {
      const rest = chunk === undefined ? '' : translateLines(chunk);
      head(200, SSE);
      res.end(rest);
      return res;
    }
    if (status === 200) {
      head(200, JSON_TYPE);
      res.end(chunk === undefined || chunk === '' ? '' : translator.whole(JSON.parse(chunk)));
      return res;
    }
    head(status, JSON_TYPE);
    res.end(translator.error(status, nativeErrorMessage(chunk)));
    return res;
  };
  return new Proxy(res, {
    get(target, property) {
      if (property === 'writeHead') return writeHead;
      if (property === 'write') return write;
      if (property === 'end') return end;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function nativeErrorMessage(body: string | undefined): string {
  try {
    const parsed = JSON.parse(body ?? '');
    if (typeof parsed?.error === 'string') return parsed.error;
  } catch {
    // a text body (404 page not found)
  }
  return (body ?? '').trim();
}

// ------------------------------------------------------------------ OpenAI

function openAiError(status: number, message: string): string {
  const type = status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error';
  return `${JSON.stringify({ error: { message, type, param: null, code: null } })}\n`;
}

/** `FromChatRequest`: OpenAI messages and parameters as a native chat request. */
function nativeChat(body: Body): Body {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new CompatRejected("[] is too short - 'messages'");
  }
  const messages = body.messages.flatMap((message: Body) => {
    const content = message.content;
    const base: Body = { role: message.role };
    if (typeof message.reasoning === 'string') base.thinking = message.reasoning;
    if (Array.isArray(message.tool_calls)) {
      base.tool_calls = message.tool_calls.map((call: Body) => ({
        function: { name: call.function?.name, arguments: JSON.parse(call.function?.arguments || '{}') },
      }));
    }
    if (message.role === 'tool' && typeof message.name === 'string') base.tool_name = message.name;
    if (typeof content === 'string' || content === undefined || content === null)
      return [{ ...base, content: content ?? '' }];
    return (content as Body[]).map((part) =>
      part.type === 'image_url'
        ? { ...base, content: '', images: [String(part.image_url?.url ?? part.image_url).replace(/^data:[^,]*,/, '')] }
        : { ...base, content: part.text ?? '' },
    );
  });
  const native: Body = { model: body.model, messages, stream: body.stream === true, options: openAiOptions(body) };
  if (Array.isArray(body.tools)) native.tools = body.tools;
  if (body.response_format?.type === 'json_object') native.format = 'json';
  if (body.response_format?.type === 'json_schema') native.format = body.response_format.json_schema?.schema;
  const effort = body.reasoning?.effort ?? body.reasoning_effort;
  if (typeof effort === 'string') native.think = effort === 'none' ? false : effort;
  return native;
}

function openAiOptions(body: Body): Body {
  const options: Body = { temperature: body.temperature ?? 1, top_p: body.top_p ?? 1 };
  if (typeof body.stop === 'string') options.stop = [body.stop];
  else if (Array.isArray(body.stop)) options.stop = body.stop;
  const max = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
  if (typeof max === 'number') options.num_predict = max;
  if (typeof body.seed === 'number') options.seed = body.seed;
  if (typeof body.frequency_penalty === 'number') options.frequency_penalty = body.frequency_penalty;
  if (typeof body.presence_penalty === 'number') options.presence_penalty = body.presence_penalty;
  return options;
}

function usageOf(native: Body) {
  const prompt = native.prompt_eval_count ?? 0;
  const completion = native.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function openAiToolCalls(calls: Body[] | undefined): Body[] | undefined {
  if (!Array.isArray(calls) || calls.length === 0) return undefined;
  return calls.map((call) => ({
    id: call.id ?? '',
    index: call.function?.index ?? 0,
    type: 'function',
    function: { name: call.function?.name ?? '', arguments: JSON.stringify(call.function?.arguments ?? {}) },
  }));
}

function openAiMessage(message: Body, role = message.role): Body {
  const out: Body = { role, content: message.content ?? '' };
  if (message.thinking) out.reasoning = message.thinking;
  const toolCalls = openAiToolCalls(message.tool_calls);
  if (toolCalls) out.tool_calls = toolCalls;
  return out;
}

const chatCompletions: CompatRoute = {
  nativePath: '/api/chat',
  translate: nativeChat,
  translator(body) {
    const id = `chatcmpl-${Math.floor(Math.random() * 999)}`;
    const created = unix();
    const includeUsage = body.stream_options?.include_usage === true;
    let toolCallSent = false;
    const chunk = (native: Body, choices: Body[]) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: native.model,
      system_fingerprint: 'fp_ollama',
      choices,
    });
    return {
      line(native) {
        const delta = openAiMessage(native.message ?? {}, 'assistant');
        if (delta.tool_calls) toolCallSent = true;
        const reason = native.done_reason ? (toolCallSent ? 'tool_calls' : native.done_reason) : null;
        let out = sse(chunk(native, [{ index: 0, delta, finish_reason: reason }]));
        if (native.done === true) {
          if (includeUsage) out += sse({ ...chunk(native, []), usage: usageOf(native) });
          out += 'data: [DONE]\n\n';
        }
        return out;
      },
      whole(native) {
        const message = openAiMessage(native.message ?? {});
        const reason = message.tool_calls ? 'tool_calls' : native.done_reason || null;
        return `${JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: native.model,
          system_fingerprint: 'fp_ollama',
          choices: [{ index: 0, message, finish_reason: reason }],
          usage: usageOf(native),
        })}\n`;
      },
      error: openAiError,
    };
  },
};

const completions: CompatRoute = {
  nativePath: '/api/generate',
  translate(body) {
    if (typeof body.prompt !== 'string') throw new CompatRejected('prompt must be a string');
    const native: Body = {
      model: body.model,
      prompt: body.prompt,
      stream: body.stream === true,
      options: openAiOptions(body),
    };
    if (typeof body.suffix === 'string' && body.suffix !== '') native.suffix = body.suffix;
    return native;
  },
  translator(body) {
    const id = `cmpl-${Math.floor(Math.random() * 999)}`;
    const created = unix();
    const includeUsage = body.stream_options?.include_usage === true;
    const chunk = (native: Body, choices: Body[], usage?: Body) => {
      const out: Body = {
        id,
        object: 'text_completion',
        created,
        choices,
        model: native.model,
        system_fingerprint: 'fp_ollama',
      };
      if (usage) out.usage = usage;
      return out;
    };
    const zero = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    return {
      line(native) {
        const choice = { text: native.response ?? '', index: 0, finish_reason: native.done_reason || null };
        let out = sse(chunk(native, [choice], includeUsage ? zero : undefined));
        if (native.done === true) {
          if (includeUsage) out += sse(chunk(native, [], usageOf(native)));
          out += 'data: [DONE]\n\n';
        }
        return out;
      },
      whole(native) {
        return `${JSON.stringify({
          id,
          object: 'text_completion',
          created,
          model: native.model,
          system_fingerprint: 'fp_ollama',
          choices: [{ text: native.response ?? '', index: 0, finish_reason: native.done_reason || null }],
          usage: usageOf(native),
        })}\n`;
      },
      error: openAiError,
    };
  },
};

const embeddings: CompatRoute = {
  nativePath: '/api/embed',
  translate(body) {
    if (body.input === undefined || body.input === null || (Array.isArray(body.input) && body.input.length === 0)) {
      throw new CompatRejected('invalid input');
    }
    const native: Body = { model: body.model, input: body.input === '' ? [''] : body.input };
    if (typeof body.dimensions === 'number') native.dimensions = body.dimensions;
    return native;
  },
  translator(body) {
    return {
      line: () => '',
      whole(native) {
        const base64 = String(body.encoding_format ?? '').toLowerCase() === 'base64';
        const data = (native.embeddings as number[][]).map((vector, index) => ({
          object: 'embedding',
          embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
          index,
        }));
        const tokens = native.prompt_eval_count ?? 0;
        return `${JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } })}\n`;
      },
      error: openAiError,
    };
  },
};

const owner = (name: string) => (name.includes('/') ? name.split('/')[0] : 'library');

const listModels: CompatRoute = {
  nativePath: '/api/tags',
  translate: () => ({}),
  translator: () => ({
    line: () => '',
    whole: (native) =>
      `${JSON.stringify({
        object: 'list',
        data: (native.models as Body[]).map((model) => ({
          id: model.name,
          object: 'model',
          created: Math.floor(Date.parse(model.modified_at) / 1000),
          owned_by: owner(model.name),
        })),
      })}\n`,
    error: openAiError,
  }),
};

const retrieveModel: CompatRoute = {
  nativePath: '/api/show',
  translate: (_body, path) => ({ model: decodeURIComponent(path.slice('/v1/models/'.length)) }),
  translator: (_body, path) => {
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    return {
      line: () => '',
      whole: (native) =>
        `${JSON.stringify({ id, object: 'model', created: Math.floor(Date.parse(native.modified_at) / 1000), owned_by: owner(id) })}\n`,
      error: openAiError,
    };
  },
};

// ------------------------------------------------------------------ OpenAI Responses

function responsesInput(body: Body): Body[] {
  const messages: Body[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '')
    messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  // As Ollama does: a reasoning item's `encrypted_content` becomes the thinking of the next assistant message.
  let thinking: string | undefined;
  const withThinking = (message: Body): Body => {
    if (thinking !== undefined && message.role === 'assistant') {
      message.thinking = thinking;
      thinking = undefined;
    }
    return message;
  };
  for (const item of Array.isArray(body.input) ? body.input : []) {
    const type = item.type ?? (item.role ? 'message' : undefined);
    if (type === 'reasoning') {
      thinking = typeof item.encrypted_content === 'string' ? item.encrypted_content : undefined;
    } else if (type === 'message') {
      const text =
        typeof item.content === 'string'
          ? item.content
          : (item.content ?? []).map((part: Body) => part.text ?? '').join('');
      messages.push(withThinking({ role: item.role, content: text }));
    } else if (type === 'function_call') {
      messages.push(
        withThinking({
          role: 'assistant',
          content: '',
          tool_calls: [
            { id: item.call_id, function: { name: item.name, arguments: JSON.parse(item.arguments || '{}') } },
          ],
        }),
      );
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', content: String(item.output ?? ''), tool_call_id: item.call_id });
    } else {
      throw new CompatRejected(`unknown input item type: ${JSON.stringify(type)}`);
    }
  }
  if (thinking !== undefined) messages.push({ role: 'assistant', content: '', thinking });
  return messages;
}

function responseObject(body: Body, id: string, status: string, output: Body[], usage: Body | null): Body {
  return {
    id,
    object: 'response',
    created_at: unix(),
    completed_at: status === 'completed' ? unix() : null,
    status,
    incomplete_details: null,
    model: body.model,
    previous_response_id: null,
    instructions: body.instructions ?? null,
    output,
    error: null,
    tools: body.tools ?? [],
    tool_choice: 'auto',
    truncation: 'disabled',
    parallel_tool_calls: true,
    text: { format: body.text?.format ?? { type: 'text' } },
    top_p: body.top_p ?? 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    top_logprobs: 0,
    temperature: body.temperature ?? 1,
    reasoning: null,
    usage,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: null,
    store: false,
    background: false,
    service_tier: 'default',
    metadata: {},
    safety_identifier: null,
    prompt_cache_key: null,
  };
}

function responsesUsage(native: Body): Body {
  const input = native.prompt_eval_count ?? 0;
  const output = native.eval_count ?? 0;
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
}

function responsesOutput(
  itemId: string,
  text: string,
  toolCalls: Body[] | undefined,
  status: string,
  reasoning?: { id: string; text: string },
): Body[] {
  // Ollama puts the thinking first, as a reasoning item whose summary (and `encrypted_content`) is the plain text.
  const output: Body[] =
    reasoning === undefined || reasoning.text === '' ? [] : [reasoningItem(reasoning.id, reasoning.text)];
  if (toolCalls && toolCalls.length > 0) {
    return output.concat(
      toolCalls.map((call, i) => ({
        id: `fc_${itemId}_${i}`,
        type: 'function_call',
        status,
        call_id: call.id ?? '',
        name: call.function?.name ?? '',
        arguments: JSON.stringify(call.function?.arguments ?? {}),
      })),
    );
  }
  output.push({
    id: itemId,
    type: 'message',
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  });
  return output;
}

function reasoningItem(id: string, text: string): Body {
  return { id, type: 'reasoning', summary: [{ type: 'summary_text', text }], encrypted_content: text };
}

const responses: CompatRoute = {
  nativePath: '/api/chat',
  translate(body) {
    const native: Body = {
      model: body.model,
      messages: responsesInput(body),
      stream: body.stream === true,
      options: openAiOptions(body),
    };
    if (Array.isArray(body.tools)) {
      native.tools = body.tools.map((tool: Body) => ({
        type: 'function',
        function: { name: tool.name, description: tool.description, parameters: tool.parameters },
      }));
    }
    if (typeof body.reasoning?.effort === 'string')
      native.think = body.reasoning.effort === 'none' ? false : body.reasoning.effort;
    return native;
  },
  translator(body) {
    const id = `resp_${Math.floor(Math.random() * 999999)}`;
    const itemId = `msg_${Math.floor(Math.random() * 999999)}`;
    const reasoningId = `rs_${Math.floor(Math.random() * 999999)}`;
    let sequence = 0;
    let started = false;
    let outputIndex = 0;
    let thinking = '';
    let reasoningOpen = false;
    let messageOpen = false;
    let text = '';
    let toolCalls: Body[] | undefined;
    const event = (type: string, data: Body) => named(type, { ...data, type, sequence_number: sequence++ });
    const closeReasoning = () => {
      if (!reasoningOpen) return '';
      reasoningOpen = false;
      const out =
        event('response.reasoning_summary_text.done', {
          item_id: reasoningId,
          output_index: outputIndex,
          summary_index: 0,
          text: thinking,
        }) +
        event('response.output_item.done', { output_index: outputIndex, item: reasoningItem(reasoningId, thinking) });
      outputIndex++;
      return out;
    };
    const openMessage = () => {
      if (messageOpen) return '';
      messageOpen = true;
      return (
        event('response.output_item.added', {
          output_index: outputIndex,
          item: { id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
        }) +
        event('response.content_part.added', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        })
      );
    };
    return {
      line(native) {
        let out = '';
        if (!started) {
          started = true;
          out += event('response.created', { response: responseObject(body, id, 'in_progress', [], null) });
          out += event('response.in_progress', { response: responseObject(body, id, 'in_progress', [], null) });
        }
        const thought = native.message?.thinking ?? '';
        if (thought !== '') {
          if (thinking === '') {
            reasoningOpen = true;
            out += event('response.output_item.added', {
              output_index: outputIndex,
              item: { id: reasoningId, type: 'reasoning', summary: [] },
            });
          }
          thinking += thought;
          out += event('response.reasoning_summary_text.delta', {
            item_id: reasoningId,
            output_index: outputIndex,
            summary_index: 0,
            delta: thought,
          });
        }
        const delta = native.message?.content ?? '';
        if (Array.isArray(native.message?.tool_calls)) toolCalls = [...(toolCalls ?? []), ...native.message.tool_calls];
        if (delta !== '') {
          out += closeReasoning() + openMessage();
          text += delta;
          out += event('response.output_text.delta', {
            item_id: itemId,
            output_index: outputIndex,
            content_index: 0,
            delta,
            logprobs: [],
          });
        }
        if (native.done === true) {
          out += closeReasoning() + openMessage();
          out += event('response.output_text.done', {
            item_id: itemId,
            output_index: outputIndex,
            content_index: 0,
            text,
            logprobs: [],
          });
          const output = responsesOutput(itemId, text, toolCalls, 'completed', { id: reasoningId, text: thinking });
          out += event('response.output_item.done', { output_index: outputIndex, item: output[output.length - 1] });
          out += event('response.completed', {
            response: responseObject(body, id, 'completed', output, responsesUsage(native)),
          });
        }
        return out;
      },
      whole(native) {
        const output = responsesOutput(itemId, native.message?.content ?? '', native.message?.tool_calls, 'completed', {
          id: `rs_${id}`,
          text: native.message?.thinking ?? '',
        });
        return `${JSON.stringify(responseObject(body, id, 'completed', output, responsesUsage(native)))}\n`;
      },
      error: openAiError,
    };
  },
};

// ------------------------------------------------------------------ Anthropic Messages

function anthropicError(status: number, message: string): string {
  const types: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    429: 'rate_limit_error',
    503: 'overloaded_error',
  };
  const type = types[status] ?? 'api_error';
  return `${JSON.stringify({ type: 'error', error: { type, message }, request_id: `req_${hex(12)}` })}\n`;
}

const hex = (bytes: number) =>
  Array.from({ length: bytes * 2 }, () => Math.floor(Math.random() * 16).toString(16)).join('');

function nativeMessages(body: Body): Body {
  if (typeof body.max_tokens !== 'number') throw new CompatRejected('max_tokens is required');
  const messages: Body[] = [];
  const system =
    typeof body.system === 'string'
      ? body.system
      : Array.isArray(body.system)
        ? body.system.map((b: Body) => b.text ?? '').join('')
        : '';
  if (system !== '') messages.push({ role: 'system', content: system });
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    const blocks: Body[] =
      typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : (message.content ?? []);
    const text = blocks
      .filter((b) => b.type === 'text')
      .map((b) => b.text)
      .join('');
    const images = blocks.filter((b) => b.type === 'image').map((b) => b.source?.data);
    const toolCalls = blocks
      .filter((b) => b.type === 'tool_use')
      .map((b) => ({ id: b.id, function: { name: b.name, arguments: b.input ?? {} } }));
    for (const result of blocks.filter((b) => b.type === 'tool_result')) {
      messages.push({
        role: 'tool',
        content: typeof result.content === 'string' ? result.content : '',
        tool_call_id: result.tool_use_id,
      });
    }
    if (text !== '' || images.length > 0 || toolCalls.length > 0) {
      const native: Body = { role: message.role, content: text };
      if (images.length > 0) native.images = images;
      if (toolCalls.length > 0) native.tool_calls = toolCalls;
      messages.push(native);
    }
  }
  const options: Body = { num_predict: body.max_tokens };
  if (typeof body.temperature === 'number') options.temperature = body.temperature;
  if (typeof body.top_p === 'number') options.top_p = body.top_p;
  if (typeof body.top_k === 'number') options.top_k = body.top_k;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) options.stop = body.stop_sequences;
  const native: Body = { model: body.model, messages, options, stream: body.stream === true };
  if (Array.isArray(body.tools)) {
    native.tools = body.tools.map((tool: Body) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: tool.input_schema },
    }));
  }
  if (body.thinking?.type === 'enabled') native.think = true;
  return native;
}

function stopReason(reason: string | undefined, toolCalls: boolean): string | undefined {
  if (toolCalls) return 'tool_use';
  if (reason === 'stop') return 'end_turn';
  if (reason === 'length') return 'max_tokens';
  return reason ? 'stop_sequence' : undefined;
}

function anthropicBlocks(message: Body): Body[] {
  const blocks: Body[] = [];
  if (message.thinking) blocks.push({ type: 'thinking', thinking: message.thinking });
  if (message.content) blocks.push({ type: 'text', text: message.content });
  for (const call of message.tool_calls ?? [])
    blocks.push({ type: 'tool_use', id: call.id, name: call.function?.name, input: call.function?.arguments ?? {} });
  return blocks;
}

const messagesRoute: CompatRoute = {
  nativePath: '/api/chat',
  translate: nativeMessages,
  translator(body) {
    const id = `msg_${hex(12)}`;
    let started = false;
    let index = 0;
    let textOpen = false;
    let toolCalls = false;
    const event = (type: string, data: Body) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    return {
      line(native) {
        let out = '';
        if (!started) {
          started = true;
          out += event('message_start', {
            message: {
              id,
              type: 'message',
              role: 'assistant',
              model: body.model,
              content: [],
              usage: { input_tokens: native.prompt_eval_count ?? 0, output_tokens: 0 },
            },
          });
        }
        const content = native.message?.content ?? '';
        if (content !== '') {
          if (!textOpen) {
            textOpen = true;
            out += event('content_block_start', { index, content_block: { type: 'text', text: '' } });
          }
          out += event('content_block_delta', { index, delta: { type: 'text_delta', text: content } });
        }
        for (const call of native.message?.tool_calls ?? []) {
          if (textOpen) {
            out += event('content_block_stop', { index });
            index++;
            textOpen = false;
          }
          toolCalls = true;
          out += event('content_block_start', {
            index,
            content_block: { type: 'tool_use', id: call.id, name: call.function?.name, input: {} },
          });
          out += event('content_block_delta', {
            index,
            delta: { type: 'input_json_delta', partial_json: JSON.stringify(call.function?.arguments ?? {}) },
          });
          out += event('content_block_stop', { index });
          index++;
        }
        if (native.done === true) {
          if (textOpen) out += event('content_block_stop', { index });
          out += event('message_delta', {
            delta: { stop_reason: stopReason(native.done_reason, toolCalls) },
            usage: { input_tokens: native.prompt_eval_count ?? 0, output_tokens: native.eval_count ?? 0 },
          });
          out += event('message_stop', {});
        }
        return out;
      },
      whole(native) {
        const message = native.message ?? {};
        const out: Body = {
          id,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: anthropicBlocks(message),
        };
        const reason = stopReason(native.done_reason, (message.tool_calls ?? []).length > 0);
        if (reason) out.stop_reason = reason;
        out.usage = { input_tokens: native.prompt_eval_count ?? 0, output_tokens: native.eval_count ?? 0 };
        return `${JSON.stringify(out)}\n`;
      },
      error: anthropicError,
    };
  },
};

export const COMPAT_ROUTES: Record<string, CompatRoute> = {
  'POST /v1/chat/completions': chatCompletions,
  'POST /v1/completions': completions,
  'POST /v1/embeddings': embeddings,
  'POST /v1/responses': responses,
  'POST /v1/messages': messagesRoute,
  'GET /v1/models': listModels,
};

/** `GET /v1/models/{model}`. */
export function findCompatRoute(method: string, path: string): CompatRoute | undefined {
  const exact = COMPAT_ROUTES[`${method} ${path}`];
  if (exact !== undefined) return exact;
  if (method === 'GET' && path.startsWith('/v1/models/') && path.length > '/v1/models/'.length) return retrieveModel;
  return undefined;
}

/** The compatible API's error body for a request its middleware refused (400). */
export function compatErrorBody(path: string, status: number, message: string): string {
  return path === '/v1/messages' ? anthropicError(status, message) : openAiError(status, message);
}
