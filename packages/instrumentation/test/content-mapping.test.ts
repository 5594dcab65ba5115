import type { DiagLogger } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import { imagePart } from '../src/core/content-parts.js';
import { captureMode, resolveSettings } from '../src/core/settings.js';
import { boundEntries } from '../src/core/truncation.js';
import {
  outputMessage,
  requestContent,
  responseTurn,
  StreamedOutput,
  toolDefinitions,
} from '../src/formats/ollama-content.js';

const boundedJson = (entries: Record<string, unknown>[], maxLength: number, messages: boolean) =>
  boundEntries(entries, maxLength, messages).json;

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PNG_BYTES = Buffer.from(PNG_BASE64, 'base64');

function diagSpy(): DiagLogger & { warn: ReturnType<typeof vi.fn> } {
  return { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn(), verbose: vi.fn() } as never;
}

describe('chat requests to semconv input messages', () => {
  it('maps every role, in order, with reasoning, tool calls (ids, arguments as objects) and tool responses', () => {
    const content = requestContent('chat', {
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'What is the weather in Toronto?' },
        {
          role: 'assistant',
          content: '',
          thinking: 'I should call the tool.',
          tool_calls: [
            { id: 'call_abc12345', function: { index: 0, name: 'get_weather', arguments: { city: 'Toronto' } } },
          ],
        },
        { role: 'tool', content: '11 degrees celsius', tool_name: 'get_weather', tool_call_id: 'call_abc12345' },
      ],
    });
    expect(content.inputMessages).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'You are terse.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'What is the weather in Toronto?' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', content: 'I should call the tool.' },
          { type: 'tool_call', id: 'call_abc12345', name: 'get_weather', arguments: { city: 'Toronto' } },
        ],
      },
      {
        role: 'tool',
        parts: [
          { type: 'tool_call_response', id: 'call_abc12345', name: 'get_weather', response: '11 degrees celsius' },
        ],
      },
    ]);
    // System messages in the history are not "instructions passed apart from the history".
    expect(content.systemInstructions).toBeUndefined();
  });

  it('flattens tool definitions', () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    expect(
      toolDefinitions([
        { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters } },
      ]),
    ).toEqual([{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters }]);
    expect(toolDefinitions([])).toBeUndefined();
    expect(toolDefinitions(undefined)).toBeUndefined();
  });
});

describe('generate requests', () => {
  it('records the prompt as a user message and `system` as system instructions, never `context`', () => {
    const content = requestContent('generate', {
      model: 'gemma4',
      prompt: 'Why is the sky blue?',
      system: 'Answer like a pirate.',
      context: [1, 2, 3, 4],
    });
    expect(content).toEqual({
      inputMessages: [{ role: 'user', parts: [{ type: 'text', content: 'Why is the sky blue?' }] }],
      systemInstructions: [{ type: 'text', content: 'Answer like a pirate.' }],
    });
    expect(JSON.stringify(content)).not.toContain('[1,2,3,4]');
  });
});

describe('images', () => {
  it('records modality, size and MIME type, never the bytes', () => {
    expect(imagePart(PNG_BASE64)).toEqual({
      type: 'blob',
      modality: 'image',
      mime_type: 'image/png',
      size: PNG_BYTES.length,
    });
    expect(imagePart(new Uint8Array(PNG_BYTES))).toEqual({
      type: 'blob',
      modality: 'image',
      mime_type: 'image/png',
      size: PNG_BYTES.length,
    });
    expect(imagePart(`data:image/jpeg;base64,${PNG_BASE64}`)).toMatchObject({ mime_type: 'image/jpeg' });
    expect(imagePart(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toMatchObject({ mime_type: 'image/jpeg', size: 4 });
    // A file path (not yet encoded) has no knowable size.
    expect(imagePart('./photos/cat.jpg')).toEqual({ type: 'blob', modality: 'image' });
  });

  it('keeps an image part in place of the image in the user message', () => {
    const content = requestContent('chat', {
      messages: [{ role: 'user', content: 'What is in this picture?', images: [PNG_BASE64] }],
    });
    expect(content.inputMessages?.[0]?.parts).toEqual([
      { type: 'text', content: 'What is in this picture?' },
      { type: 'blob', modality: 'image', mime_type: 'image/png', size: PNG_BYTES.length },
    ]);
    expect(JSON.stringify(content)).not.toContain(PNG_BASE64.slice(0, 24));
  });
});

describe('output messages', () => {
  it('maps a chat response, with the finish reason', () => {
    const turn = responseTurn({
      message: { role: 'assistant', content: 'Rayleigh scattering.', thinking: 'Physics.' },
      done_reason: 'stop',
    });
    expect(outputMessage(turn, 'stop', false)).toEqual({
      role: 'assistant',
      parts: [
        { type: 'reasoning', content: 'Physics.' },
        { type: 'text', content: 'Rayleigh scattering.' },
      ],
      finish_reason: 'stop',
    });
  });

  it('maps a generate response and marks failed calls with finish_reason error', () => {
    const turn = responseTurn({ response: 'Arr, the sky', thinking: undefined });
    expect(outputMessage(turn, undefined, true)).toEqual({
      role: 'assistant',
      parts: [{ type: 'text', content: 'Arr, the sky' }],
      finish_reason: 'error',
    });
  });

  it('accumulates streamed content, thinking and tool calls that arrive before the final chunk', () => {
    const streamed = new StreamedOutput();
    streamed.add({ message: { role: 'assistant', content: '', thinking: 'Let me ' } });
    streamed.add({ message: { role: 'assistant', content: '', thinking: 'check.' } });
    streamed.add({
      message: {
        role: 'assistant',
        content: '',
        tool_calls: [{ id: 'call_1', function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
      },
    });
    streamed.add({ message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' });
    expect(outputMessage(streamed, 'stop', false).parts).toEqual([
      { type: 'reasoning', content: 'Let me check.' },
      { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } },
    ]);

    const generated = new StreamedOutput();
    for (const response of ['The ', 'sky ', 'is blue.']) generated.add({ response, done: false });
    expect(outputMessage(generated, 'stop', false).parts).toEqual([{ type: 'text', content: 'The sky is blue.' }]);
  });
});

describe('bounded JSON', () => {
  const message = (role: string, text: string) => ({ role, parts: [{ type: 'text', content: text }] });

  it('leaves content that fits untouched', () => {
    const entries = [message('user', 'hello')];
    expect(boundedJson(entries, 100, true)).toBe(JSON.stringify([message('user', 'hello')]));
  });

  it('cuts the longest texts first, keeps the JSON valid and marks the cut parts', () => {
    const entries = [message('system', 'short'), message('user', 'x'.repeat(5000)), message('user', 'y'.repeat(3000))];
    const json = boundedJson(entries, 2000, true);
    expect(json.length).toBeLessThanOrEqual(2000);
    const parsed = JSON.parse(json);
    expect(parsed).toHaveLength(3);
    expect(parsed[0].parts[0]).toEqual({ type: 'text', content: 'short' });
    const [x, y] = [parsed[1].parts[0], parsed[2].parts[0]];
    expect(x.truncated).toBe(true);
    expect(y.truncated).toBe(true);
    // One common length: neither long text is cut more than the other.
    expect(x.content.length).toBe(y.content.length);
    expect(x.content).toMatch(/^x+$/);
    // Nothing is wasted: the result is close to the limit.
    expect(json.length).toBeGreaterThan(1950);
  });

  it('counts JSON escapes and never splits a surrogate pair', () => {
    const entries = [message('user', `${'"\n'.repeat(400)}${'😀'.repeat(400)}`)];
    const json = boundedJson(entries, 1000, true);
    expect(json.length).toBeLessThanOrEqual(1000);
    const content = JSON.parse(json)[0].parts[0].content as string;
    expect(content).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(content.length).toBeGreaterThan(0);
  });

  it('drops tool arguments and then the oldest messages, saying how many', () => {
    const many = Array.from({ length: 300 }, (_, i) => message('user', `question ${i}`));
    const json = boundedJson(many, 1000, true);
    expect(json.length).toBeLessThanOrEqual(1000);
    const parsed = JSON.parse(json);
    expect(parsed.at(-1).parts[0].content).toBe('question 299');
    expect(parsed[0].truncated_messages).toBe(300 - parsed.length);

    const call = [
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'c1', name: 'lookup', arguments: { blob: 'z'.repeat(3000) } }],
      },
    ];
    const bounded = JSON.parse(boundedJson(call, 500, false));
    expect(bounded).toEqual([
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'c1', name: 'lookup', truncated: true }] },
    ]);
  });

  it('bounds tool definitions by description, then parameters, then trailing definitions', () => {
    const definitions = Array.from({ length: 50 }, (_, i) => ({
      type: 'function',
      name: `tool_${i}`,
      description: 'd'.repeat(200),
      parameters: { type: 'object', properties: { q: { type: 'string', description: 'p'.repeat(200) } } },
    }));
    const json = boundedJson(definitions, 1500, false);
    expect(json.length).toBeLessThanOrEqual(1500);
    const parsed = JSON.parse(json);
    expect(parsed[0].name).toBe('tool_0');
    expect(parsed.at(-1).truncated).toBe(true);
  });
});

describe('bounded content: long histories and limits (markers counted)', () => {
  const message = (role: string, text: string) => ({ role, parts: [{ type: 'text', content: text }] });
  const history = (count: number) =>
    Array.from({ length: count }, (_, i) => message(i % 2 === 0 ? 'user' : 'assistant', `turn ${i}: ok`));

  it.each([400, 2_000, 50_000])('keeps the newest of %i short messages, close to the limit', (count) => {
    const { json, entries } = boundEntries(history(count), 16_384, true);
    expect(json.length).toBeLessThanOrEqual(16_384);
    expect(json.length).toBeGreaterThan(16_000);
    const parsed = JSON.parse(json);
    expect(parsed.at(-1).parts[0].content).toBe(`turn ${count - 1}: ok`);
    expect(parsed[0].truncated_messages).toBe(count - parsed.length);
    // The log record gets exactly what the span attribute holds.
    expect(JSON.stringify(entries)).toBe(json);
  });

  it('never exceeds the limit, whatever the sizes (seeded fuzz)', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 300; round++) {
      const limit = 128 + Math.floor(random() * 4000);
      const entries = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => {
        const parts: Record<string, unknown>[] = [
          { type: 'text', content: '"é😀x'.repeat(Math.floor(random() * 300)) },
        ];
        if (random() < 0.3)
          parts.push({ type: 'tool_call', id: `c${i}`, name: 'f', arguments: { q: 'a'.repeat(500) } });
        if (random() < 0.2) parts.push({ type: 'reasoning', content: 'r'.repeat(Math.floor(random() * 900)) });
        return { role: 'user', parts };
      });
      const { json, entries: kept } = boundEntries(entries, limit, random() < 0.7);
      expect(json.length, `round ${round}, limit ${limit}`).toBeLessThanOrEqual(limit);
      expect(() => JSON.parse(json)).not.toThrow();
      expect(JSON.stringify(kept)).toBe(json);
      expect(JSON.parse(json).length, `round ${round}: something is kept`).toBeGreaterThan(0);
    }
  });

  it('fits the newest message alone by cutting its text when nothing else fits', () => {
    const entries = [message('user', 'old'), message('user', 'n'.repeat(10_000))];
    const { json } = boundEntries(entries, 200, true);
    expect(json.length).toBeLessThanOrEqual(200);
    const [only] = JSON.parse(json);
    expect(only).toMatchObject({ role: 'user', truncated_messages: 1 });
    expect(only.parts[0]).toMatchObject({ type: 'text', truncated: true });
    expect(only.parts[0].content).toMatch(/^n+$/);
  });
});

describe('capture mode', () => {
  it('is off by default; the environment variable wins over the config, in any case', () => {
    const diag = diagSpy();
    expect(captureMode(undefined, undefined, diag)).toBe('NO_CONTENT');
    expect(captureMode(true, undefined, diag)).toBe('SPAN_ONLY');
    expect(captureMode('SPAN_AND_EVENT', undefined, diag)).toBe('SPAN_AND_EVENT');
    expect(captureMode(true, 'false', diag)).toBe('NO_CONTENT');
    expect(captureMode(false, 'TRUE', diag)).toBe('SPAN_ONLY');
    expect(captureMode(undefined, 'event_only', diag)).toBe('EVENT_ONLY');
    expect(captureMode('SPAN_ONLY', ' Span_And_Event ', diag)).toBe('SPAN_AND_EVENT');
    expect(captureMode(true, '', diag)).toBe('SPAN_ONLY');
    expect(diag.warn).not.toHaveBeenCalled();
  });

  it('warns about invalid values and ignores them', () => {
    const diag = diagSpy();
    expect(captureMode('EVENT_ONLY', 'yes please', diag)).toBe('EVENT_ONLY');
    expect(diag.warn).toHaveBeenCalledWith(
      expect.stringContaining('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'),
    );
    expect(captureMode('sometimes', undefined, diag)).toBe('NO_CONTENT');
    expect(diag.warn).toHaveBeenCalledTimes(2);
  });

  it('resolves defaults for every option', () => {
    const settings = resolveSettings({}, diagSpy());
    expect(settings).toMatchObject({
      serverPhaseSpans: true,
      coldStartThresholdNs: 500e6,
      managementSpans: true,
      propagateContext: undefined,
    });
    const on = resolveSettings({ captureMessageContent: 'EVENT_ONLY', maxContentLength: -3 }, diagSpy());
    expect(on.content).toMatchObject({ onSpan: false, onEvent: true, maxLength: 16384 });
  });
});
