import { describe, expect, it } from 'vitest';
import {
  commonAttributes,
  durationNs,
  outcomeAttributes,
  responseAttributes,
  serverAttributes,
  tokenCount,
} from '../src/core/attributes.js';
import { errorType } from '../src/core/errors.js';
import { ollamaRequestAttributes as requestAttributes, summarizeOllamaResponse } from '../src/formats/ollama.js';

/** What the span gets from a native response: its summary, mapped to attributes. */
const nativeResponseAttributes = (response: unknown) => responseAttributes(summarizeOllamaResponse(response));

describe('serverAttributes', () => {
  it('takes host and port from the normalised client host', () => {
    expect(serverAttributes('http://127.0.0.1:11434')).toEqual({ 'server.address': '127.0.0.1', 'server.port': 11434 });
  });

  it('strips credentials from the URL', () => {
    const attributes = serverAttributes('http://alice:s3cret@ollama.internal:8080');
    expect(attributes).toEqual({ 'server.address': 'ollama.internal', 'server.port': 8080 });
    expect(JSON.stringify(attributes)).not.toContain('s3cret');
  });

  it('fills in the scheme default port and unwraps IPv6 literals', () => {
    expect(serverAttributes('https://ollama.com')).toEqual({ 'server.address': 'ollama.com', 'server.port': 443 });
    expect(serverAttributes('http://[::1]:11434')).toEqual({ 'server.address': '::1', 'server.port': 11434 });
  });

  it('records nothing for a proxy client (empty host) or garbage', () => {
    expect(serverAttributes('')).toEqual({});
    expect(serverAttributes(undefined)).toEqual({});
    expect(serverAttributes('not a url')).toEqual({});
  });
});

describe('requestAttributes', () => {
  it('maps every sampling option Ollama accepts, only when set', () => {
    const attributes = requestAttributes({
      model: 'llama3.2',
      stream: true,
      format: { type: 'object' },
      keep_alive: '10m',
      think: 'high',
      options: {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        num_predict: 128,
        seed: 42,
        stop: ['\n\n', 'User:'],
        frequency_penalty: 0.5,
        presence_penalty: 0.25,
        num_ctx: 8192,
      },
    });
    expect(attributes).toEqual({
      'gen_ai.request.temperature': 0.7,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.top_k': 40,
      'gen_ai.request.max_tokens': 128,
      'gen_ai.request.seed': 42,
      'gen_ai.request.stop_sequences': ['\n\n', 'User:'],
      'gen_ai.request.frequency_penalty': 0.5,
      'gen_ai.request.presence_penalty': 0.25,
      'gen_ai.request.stream': true,
      'gen_ai.output.type': 'json',
      'ollama.request.keep_alive': '10m',
      'ollama.request.think': 'high',
      'ollama.request.num_ctx': 8192,
    });
  });

  it('sets nothing for a bare request, and no stream flag when not streaming', () => {
    expect(requestAttributes({ model: 'llama3.2', stream: false })).toEqual({});
    expect(requestAttributes(undefined)).toEqual({});
  });

  it('ignores values of the wrong type instead of recording them', () => {
    const attributes = requestAttributes({
      options: { temperature: 'hot', seed: Number.NaN, stop: [1, 'END'] } as never,
      keep_alive: { nested: true },
    });
    expect(attributes).toEqual({ 'gen_ai.request.stop_sequences': ['END'] });
  });

  it('records keep_alive and think as strings whatever their JSON type', () => {
    expect(requestAttributes({ keep_alive: 0, think: true })).toEqual({
      'ollama.request.keep_alive': '0',
      'ollama.request.think': 'true',
    });
  });

  it('never records content, images or the context array', () => {
    const attributes = requestAttributes({
      model: 'llama3.2',
      prompt: 'secret prompt',
      images: ['aGVsbG8='],
      context: [1, 2, 3],
      messages: [{ role: 'user', content: 'secret' }],
    } as never);
    expect(JSON.stringify(attributes)).not.toMatch(/secret|aGVsbG8|\[1,2,3\]/);
  });
});

describe('native response attributes', () => {
  it('maps the final chunk of a generation (fixture F5) to usage and server timings in seconds', () => {
    const attributes = nativeResponseAttributes({
      model: 'gemma4',
      done: true,
      done_reason: 'stop',
      total_duration: 174560334,
      load_duration: 101397084,
      prompt_eval_count: 11,
      prompt_eval_duration: 13074791,
      eval_count: 18,
      eval_duration: 52479709,
    });
    expect(attributes).toEqual({
      'gen_ai.response.model': 'gemma4',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 18,
      'ollama.response.total_duration': 0.174560334,
      'ollama.response.load_duration': 0.101397084,
      'ollama.response.prompt_eval_duration': 0.013074791,
      'ollama.response.eval_duration': 0.052479709,
    });
  });

  it('leaves input tokens unset on a prompt-cache hit instead of inventing 0', () => {
    const attributes = nativeResponseAttributes({ model: 'llama3.2', done: true, eval_count: 12, eval_duration: 1e8 });
    expect(attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
    expect(attributes['gen_ai.usage.output_tokens']).toBe(12);
  });

  it('records the embedding dimension, never the vectors', () => {
    const attributes = nativeResponseAttributes({
      model: 'all-minilm',
      embeddings: [
        [0.010071029, -0.0017594862, 0.05007221],
        [0.1, 0.2, 0.3],
      ],
      total_duration: 14143917,
      load_duration: 1019500,
      prompt_eval_count: 8,
    });
    expect(attributes).toEqual({
      'gen_ai.response.model': 'all-minilm',
      'gen_ai.usage.input_tokens': 8,
      'gen_ai.embeddings.dimension.count': 3,
      'ollama.response.total_duration': 0.014143917,
      'ollama.response.load_duration': 0.0010195,
    });
    expect(JSON.stringify(attributes)).not.toContain('0.010071029');
  });

  it('handles the legacy embeddings response', () => {
    expect(summarizeOllamaResponse({ embedding: [0.5, 0.25, 0.125, 0] }).embeddingDimensions).toBe(4);
    expect(summarizeOllamaResponse({ embedding: [] }).embeddingDimensions).toBeUndefined();
  });

  it('summarises nothing from a value that is not a response', () => {
    expect(summarizeOllamaResponse(undefined)).toEqual({});
    expect(summarizeOllamaResponse('done')).toEqual({});
  });
});

describe('number guards', () => {
  it('accepts only non-negative integer token counts', () => {
    expect(tokenCount(0)).toBe(0);
    expect(tokenCount(26)).toBe(26);
    expect(tokenCount(-1)).toBeUndefined();
    expect(tokenCount(1.5)).toBeUndefined();
    expect(tokenCount('26')).toBeUndefined();
  });

  it('treats zero or missing durations as absent', () => {
    expect(durationNs(0)).toBeUndefined();
    expect(durationNs(undefined)).toBeUndefined();
    expect(durationNs(1_500_000_000)).toBe(1_500_000_000);
  });
});

describe('metric attribute objects', () => {
  it('are built once per combination and frozen, so recording a point allocates nothing of ours', () => {
    const server = serverAttributes('http://127.0.0.1:11434');
    const common = commonAttributes('chat', 'llama3.2', server);
    expect(commonAttributes('chat', 'llama3.2', serverAttributes('http://127.0.0.1:11434'))).toBe(common);
    expect(Object.isFrozen(common)).toBe(true);
    expect(common).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': 'llama3.2',
      'server.address': '127.0.0.1',
      'server.port': 11434,
    });
    const outcome = outcomeAttributes(common, 'llama3.2:latest', '404');
    expect(outcomeAttributes(common, 'llama3.2:latest', '404')).toBe(outcome);
    expect(outcome).toEqual({ ...common, 'gen_ai.response.model': 'llama3.2:latest', 'error.type': '404' });
    expect(outcomeAttributes(common, undefined, undefined)).toBe(common);
  });

  it('keep different models and servers apart', () => {
    const server = serverAttributes('http://gpu-box:11434');
    expect(commonAttributes('chat', 'a', server)).not.toBe(commonAttributes('chat', 'b', server));
    expect(commonAttributes('chat', 'a', server)['gen_ai.request.model']).toBe('a');
    expect(commonAttributes('embeddings', undefined, server)).not.toHaveProperty('gen_ai.request.model');
  });
});

describe('errorType', () => {
  it('uses the HTTP status of an Ollama ResponseError', () => {
    const error = Object.assign(new Error("model 'nope' not found"), { name: 'ResponseError', status_code: 404 });
    expect(errorType(error)).toBe('404');
  });

  it('uses the class name otherwise', () => {
    expect(errorType(new TypeError('fetch failed'))).toBe('TypeError');
    expect(errorType(new Error('an error was encountered while running the model'))).toBe('Error');
    class CustomFailure extends Error {}
    expect(errorType(new CustomFailure('x'))).toBe('CustomFailure');
  });

  it("uses a Node system error's code (a cut or refused connection seen by the proxy)", () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(errorType(reset)).toBe('ECONNRESET');
    expect(errorType(Object.assign(new Error('x'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))).toBe(
      'ERR_STREAM_PREMATURE_CLOSE',
    );
    // Codes that are not system-error shaped keep the class name; fetch's TypeError carries its code on `cause`.
    expect(errorType(Object.assign(new TypeError('fetch failed'), { cause: reset }))).toBe('TypeError');
    expect(errorType(Object.assign(new Error('x'), { code: 'some code' }))).toBe('Error');
  });

  it('marks aborts as cancellations and keeps other DOMException names', () => {
    expect(errorType(new DOMException('This operation was aborted', 'AbortError'))).toBe('cancelled');
    expect(errorType(new DOMException('The operation timed out', 'TimeoutError'))).toBe('TimeoutError');
  });

  it('falls back to _OTHER for values that are not errors', () => {
    expect(errorType('boom')).toBe('_OTHER');
    expect(errorType(null)).toBe('_OTHER');
    expect(errorType({})).toBe('_OTHER');
  });
});
