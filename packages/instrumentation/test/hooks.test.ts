import { context, DiagLogLevel, diag, propagation, type Span } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InstrumentOllamaConfig, OllamaRequestHookInfo, OllamaResponseHookInfo } from '../src/index.js';
import { drain, type Rig, startRig, USER_QUESTION } from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  diag.disable();
});

async function hookedRig(config: InstrumentOllamaConfig) {
  rig = await startRig({ config: { serverPhaseSpans: false, ...config } });
  return rig;
}

describe('requestHook', () => {
  it('runs with the started span and the request before anything is sent, in the caller context', async () => {
    const seen: { recording: boolean; requestsSent: number; info: OllamaRequestHookInfo }[] = [];
    const r = await hookedRig({
      requestHook: (span: Span, info) => {
        seen.push({ recording: span.isRecording(), requestsSent: r.double.requests.length, info });
        const session = propagation.getBaggage(context.active())?.getEntry('session.id')?.value;
        if (session !== undefined) span.setAttribute('session.id', session);
        span.setAttribute('app.model_requested', String((info.request as { model?: string })?.model));
      },
    });
    const request = { model: 'llama3.2', messages: USER_QUESTION };
    const baggage = propagation.createBaggage({ 'session.id': { value: 'session-42' } });
    await context.with(propagation.setBaggage(context.active(), baggage), () => r.client.chat(request));
    await r.client.list();

    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ recording: true, requestsSent: 0, info: { method: 'chat' } });
    expect(seen[0]!.info.request).toBe(request);
    expect(seen[1]!.info).toEqual({ method: 'list', request: undefined });
    const [chat, list] = r.telemetry.spans();
    expect(chat!.attributes).toMatchObject({ 'session.id': 'session-42', 'app.model_requested': 'llama3.2' });
    expect(list!.attributes['app.model_requested']).toBe('undefined');
  });
});

describe('responseHook', () => {
  it('gets the response object before the span ends', async () => {
    const hook = vi.fn((span: Span, info: OllamaResponseHookInfo) => {
      span.setAttribute(
        'app.answer_length',
        (info.response as { message: { content: string } }).message.content.length,
      );
    });
    const r = await hookedRig({ responseHook: hook });
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(hook).toHaveBeenCalledTimes(1);
    expect(hook.mock.calls[0]![1]).toEqual({ method: 'chat', response });
    expect(r.telemetry.spans()[0]!.attributes['app.answer_length']).toBe(response.message.content.length);
  });

  it('runs after the final chunk of a stream, with that chunk', async () => {
    const calls: { chunksSeen: number; response: unknown }[] = [];
    let chunksSeen = 0;
    const r = await hookedRig({
      responseHook: (span, info) => {
        calls.push({ chunksSeen, response: info.response });
        span.setAttribute('app.done_reason', (info.response as { done_reason: string }).done_reason);
      },
    });
    const stream = await r.client.generate({ model: 'gemma4', prompt: 'Hello', stream: true });
    const chunks: unknown[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      chunksSeen++;
    }
    expect(calls).toHaveLength(1);
    // Called when the done chunk arrived, before the consumer got it.
    expect(calls[0]!.chunksSeen).toBe(chunks.length - 1);
    expect(calls[0]!.response).toBe(chunks.at(-1));
    expect(r.telemetry.spans()[0]!.attributes['app.done_reason']).toBe('stop');
  });

  it('runs for management streams with the success line', async () => {
    const hook = vi.fn();
    const r = await hookedRig({ responseHook: hook });
    await drain(await r.client.pull({ model: 'smollm2:135m', stream: true }));
    expect(hook).toHaveBeenCalledWith(expect.anything(), { method: 'pull', response: { status: 'success' } });
  });

  it('is not called for failed or cancelled calls', async () => {
    const hook = vi.fn();
    const r = await hookedRig({ responseHook: hook });
    await expect(r.client.chat({ model: 'missing', messages: USER_QUESTION })).rejects.toThrow();
    const stream = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    for await (const _ of stream) break;
    expect(hook).not.toHaveBeenCalled();
    expect(r.telemetry.spans().map((span) => span.attributes['error.type'])).toEqual(['404', 'cancelled']);
  });
});

describe('hooks are guarded', () => {
  it('a throwing hook is logged and changes nothing for the caller or the span', async () => {
    const errors: string[] = [];
    diag.setLogger(
      {
        error: (...args: unknown[]) => errors.push(args.map(String).join(' ')),
        warn: () => {},
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      DiagLogLevel.ERROR,
    );
    const r = await hookedRig({
      requestHook: () => {
        throw new Error('request hook bug');
      },
      responseHook: () => {
        throw new TypeError('response hook bug');
      },
    });
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const chunks = await drain(await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true }));
    expect(response.done).toBe(true);
    expect(chunks.at(-1)!.done).toBe(true);
    const spans = r.telemetry.spans();
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(span.attributes).not.toHaveProperty('error.type');
    }
    expect(errors.filter((line) => line.includes('requestHook'))).toHaveLength(2);
    expect(errors.filter((line) => line.includes('responseHook'))).toHaveLength(2);
  });
});
