/* The pure pieces: flags and variables, the SSE and NDJSON splitters, usage injection, the version. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseCli, parseDuration, parseListen, parseSize } from '../src/config.js';
import { ANTHROPIC_MESSAGES_FORMAT } from '../src/formats/anthropic-messages.js';
import { OPENAI_CHAT_FORMAT } from '../src/formats/openai-chat.js';
import { LineSplitter } from '../src/ndjson.js';
import { EventSplitter, type SseEvent } from '../src/sse.js';
import { parseUpstream } from '../src/upstream.js';
import { UsageStripper, withIncludeUsage } from '../src/usage.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../src/version.js';

describe('command line', () => {
  it('has defaults: loopback 11435, upstream from OLLAMA_HOST, metrics on the listener', () => {
    expect(parseCli([], {})).toMatchObject({
      host: '127.0.0.1',
      port: 11435,
      upstream: 'http://127.0.0.1:11434',
      metrics: { kind: 'listener' },
      injectUsage: true,
      gracePeriodMillis: 20_000,
      maxBodyBytes: 64 * 1024 * 1024,
    });
    expect(parseCli([], { OLLAMA_HOST: 'gpu-box:11434' }).upstream).toBe('gpu-box:11434');
  });

  it('reads every flag, as --flag value and --flag=value, over its variable', () => {
    const config = parseCli(
      [
        '--listen=0.0.0.0:8080',
        '--upstream',
        'http://a:1',
        '--metrics',
        'off',
        '--grace-period',
        '2m',
        '--max-body-size=10MB',
        '--no-inject-usage',
      ],
      { OLLAMA_OTEL_PROXY_LISTEN: '127.0.0.1:1', OLLAMA_OTEL_PROXY_UPSTREAM: 'http://b:2' },
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      upstream: 'http://a:1',
      metrics: { kind: 'off' },
      gracePeriodMillis: 120_000,
      maxBodyBytes: 10_000_000,
      injectUsage: false,
    });
    const fromEnv = parseCli([], {
      OLLAMA_OTEL_PROXY_LISTEN: ':9000',
      OLLAMA_OTEL_PROXY_UPSTREAM: 'http://b:2',
      OLLAMA_OTEL_PROXY_METRICS: '0.0.0.0:9464',
      OLLAMA_OTEL_PROXY_INJECT_USAGE: 'false',
      OLLAMA_HOST: 'ignored:1',
    });
    expect(fromEnv).toMatchObject({ host: '127.0.0.1', port: 9000, upstream: 'http://b:2', injectUsage: false });
    expect(fromEnv.metrics).toEqual({ kind: 'own', host: '0.0.0.0', port: 9464 });
  });

  it('rejects what it cannot read', () => {
    expect(() => parseCli(['--nope'], {})).toThrow(ConfigError);
    expect(() => parseCli(['--listen'], {})).toThrow(/needs a value/);
    expect(() => parseCli(['--grace-period', 'soon'], {})).toThrow(/invalid duration/);
    expect(() => parseCli(['--max-body-size', 'big'], {})).toThrow(/invalid size/);
    expect(() => parseCli(['--inject-usage', 'maybe'], {})).toThrow(/true or false/);
  });

  it('parses listen addresses, durations and sizes', () => {
    expect(parseListen('[::1]:7000', 1, 'x')).toEqual({ host: '::1', port: 7000 });
    expect(parseListen('8000', 1, 'x')).toEqual({ host: '127.0.0.1', port: 8000 });
    expect(parseListen('example', 1, 'x')).toEqual({ host: 'example', port: 1 });
    expect(parseDuration('500ms', 0)).toBe(500);
    expect(parseDuration('3', 0)).toBe(3000);
    expect(parseSize('64MiB', 0)).toBe(67108864);
    expect(parseSize('512k', 0)).toBe(524288);
  });

  it('parses upstreams the way Ollama reads OLLAMA_HOST, and refuses credentials in them', () => {
    expect(parseUpstream('127.0.0.1:11434').baseUrl).toBe('http://127.0.0.1:11434');
    expect(parseUpstream('0.0.0.0').baseUrl).toBe('http://127.0.0.1:11434');
    expect(parseUpstream(':8000').baseUrl).toBe('http://127.0.0.1:8000');
    expect(parseUpstream('https://ollama.example.com/base/').baseUrl).toBe('https://ollama.example.com:443/base');
    expect(parseUpstream('https://ollama.example.com/base/').hostHeader).toBe('ollama.example.com');
    expect(() => parseUpstream('http://user:pass@host:1')).toThrow(/credentials/);
    expect(() => parseUpstream('ftp://host')).toThrow(/http/);
  });

  it('keeps version.ts in step with package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect({ name: PACKAGE_NAME, version: PACKAGE_VERSION }).toEqual({ name: pkg.name, version: pkg.version });
  });
});

describe('splitters', () => {
  it('cuts SSE events out of chunks split anywhere, CRLF or LF, named or not', () => {
    const text = 'event: message_start\ndata: {"a":1}\n\ndata: [DONE]\r\n\r\ndata: x\ndata: y\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      const events: [string | undefined, string][] = [];
      const splitter = new EventSplitter({ event: (e: SseEvent) => events.push([e.name, e.data.toString()]) });
      splitter.push(Buffer.from(text.slice(0, cut)));
      splitter.push(Buffer.from(text.slice(cut)));
      expect(events).toEqual([
        ['message_start', '{"a":1}'],
        [undefined, '[DONE]'],
        [undefined, 'x\ny'],
      ]);
    }
  });

  it('cuts NDJSON lines out of chunks split anywhere, a last line without newline included', () => {
    const text = '{"a":1}\n{"b":2}\n{"c":3}';
    for (let cut = 1; cut < text.length; cut++) {
      const lines: string[] = [];
      const splitter = new LineSplitter({ line: (line) => lines.push(line.toString()) });
      splitter.push(Buffer.from(text.slice(0, cut)));
      splitter.push(Buffer.from(text.slice(cut)));
      splitter.end();
      expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    }
  });
});

describe('usage injection', () => {
  const inject = (text: string) => withIncludeUsage(Buffer.from(text), JSON.parse(text))?.toString();

  it("appends the option to the client's own bytes, or rewrites an existing stream_options", () => {
    expect(inject('{"model":"m","stream":true}')).toBe(
      '{"model":"m","stream":true,"stream_options":{"include_usage":true}}',
    );
    expect(inject('{ "stream": true }\n')).toBe('{ "stream": true ,"stream_options":{"include_usage":true}}\n');
    expect(JSON.parse(inject('{"stream":true,"stream_options":{"include_usage":false,"x":1}}')!)).toEqual({
      stream: true,
      stream_options: { include_usage: true, x: 1 },
    });
    expect(inject('{"stream":true,"stream_options":{"include_usage":true}}')).toBeUndefined();
    expect(inject('{"stream":false}')).toBeUndefined();
  });

  it('removes exactly what asking added, wherever the chunks are cut', () => {
    const chunk = (text: string) =>
      `data: {"id":"c","choices":[{"text":"${text}","index":0,"finish_reason":null}],"model":"m","system_fingerprint":"fp_ollama","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n`;
    const upstream = `${chunk('a')}${chunk('b')}data: {"id":"c","choices":[],"model":"m","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\ndata: [DONE]\n\n`;
    const expected = `${chunk('a')}${chunk('b')}data: [DONE]\n\n`.replaceAll(
      ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}',
      '',
    );
    for (let cut = 1; cut < upstream.length; cut += 7) {
      const stripper = new UsageStripper(true);
      const out = [
        stripper.push(Buffer.from(upstream.slice(0, cut))),
        stripper.push(Buffer.from(upstream.slice(cut))),
        stripper.end(),
      ];
      expect(Buffer.concat(out.filter((b): b is Buffer => b !== undefined)).toString()).toBe(expected);
    }
  });
});

describe('stream readers', () => {
  const event = (data: string, name?: string): SseEvent => ({ name, data: Buffer.from(data), raw: Buffer.from(data) });

  it('reads an OpenAI error event as an error', () => {
    const reader = OPENAI_CHAT_FORMAT.streamReader!(false);
    expect(
      reader.event(
        event('{"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}'),
      ),
    ).toBe('output');
    expect(reader.event(event('{"error":{"message":"quota exceeded","type":"api_error"}}'))).toBe('error');
    expect(reader.errorMessage).toBe('quota exceeded');
  });

  it('folds an Anthropic stream into a message with tool input', () => {
    const reader = ANTHROPIC_MESSAGES_FORMAT.streamReader!(true);
    reader.event(
      event(
        '{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":5,"output_tokens":0}}}',
        'message_start',
      ),
    );
    reader.event(
      event(
        '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}',
        'content_block_start',
      ),
    );
    expect(
      reader.event(
        event(
          '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":1}"}}',
          'content_block_delta',
        ),
      ),
    ).toBe('output');
    reader.event(
      event(
        '{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"input_tokens":5,"output_tokens":9}}',
        'message_delta',
      ),
    );
    expect(reader.event(event('{"type":"message_stop"}', 'message_stop'))).toBe('final');
    expect(ANTHROPIC_MESSAGES_FORMAT.summarize(reader.result())).toEqual({
      id: 'msg_1',
      model: 'm',
      finishReasons: ['tool_use'],
      inputTokens: 5,
      outputTokens: 9,
    });
    expect((reader.result() as { content: { input: unknown }[] }).content[0]!.input).toEqual({ a: 1 });
  });
});
