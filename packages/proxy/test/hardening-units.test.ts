/* The pure pieces of the hardening: canonical paths, API-shaped errors, byte-exact usage injection, oversized events. */
import { readFileSync } from 'node:fs';
import { scrubHeaderValue } from '@ollama-otel/instrumentation/internal';
import { describe, expect, it } from 'vitest';
import { errorBody, errorShapeOf } from '../src/answers.js';
import { FLAGS, parseCli } from '../src/config.js';
import { defaultMaxConnections } from '../src/connections.js';
import { canonicalTarget } from '../src/paths.js';
import { EventSplitter } from '../src/sse.js';
import { parseUpstream } from '../src/upstream.js';
import { UsageStripper, withIncludeUsage } from '../src/usage.js';

describe('canonical paths', () => {
  it.each([
    ['/api/chat', '/api/chat'],
    ['/api/chat/', '/api/chat'],
    ['/api//chat', '/api/chat'],
    ['/api/./chat', '/api/chat'],
    ['/api/x/../chat', '/api/chat'],
    ['/api/%63hat', '/api/chat'],
    ['//api/chat//', '/api/chat'],
    ['/', '/'],
    ['/v1/models/llama3.2:1b', '/v1/models/llama3.2:1b'],
    ['/v1/models/a%20b', '/v1/models/a%20b'],
  ])('%s is routed and forwarded as %s', (target, path) => {
    expect(canonicalTarget(`${target}?q=1`)).toEqual({ path, query: '?q=1' });
  });

  it('refuses paths above the root, broken escapes and control characters', () => {
    expect(canonicalTarget('/../api/chat')).toHaveProperty('error');
    expect(canonicalTarget('/api/%zz')).toHaveProperty('error');
    expect(canonicalTarget('/api/%0achat')).toHaveProperty('error');
  });
});

describe('errors in the caller API shape', () => {
  it('native, OpenAI and Anthropic', () => {
    expect(errorShapeOf('/api/chat')).toBe('ollama');
    expect(errorShapeOf('/v1/chat/completions')).toBe('openai');
    expect(errorShapeOf('/v1/messages')).toBe('anthropic');
    expect(JSON.parse(errorBody('ollama', 502, 'down'))).toEqual({ error: 'down' });
    expect(JSON.parse(errorBody('openai', 413, 'big'))).toEqual({
      error: { message: 'big', type: 'invalid_request_error', param: null, code: null },
    });
    expect(JSON.parse(errorBody('openai', 502, 'down')).error.type).toBe('api_error');
    expect(JSON.parse(errorBody('anthropic', 413, 'big'))).toEqual({
      type: 'error',
      error: { type: 'request_too_large', message: 'big' },
    });
    expect(JSON.parse(errorBody('anthropic', 503, 'full')).error.type).toBe('overloaded_error');
    expect(JSON.parse(errorBody('anthropic', 504, 'slow')).error.type).toBe('timeout_error');
  });
});

describe('usage injection keeps the client JSON', () => {
  const big = '12345678901234567890';

  it('appends the member and keeps a 64-bit seed as sent', () => {
    const body = Buffer.from(`{"model":"m","stream":true,"seed":${big},"messages":[]}`);
    const out = withIncludeUsage(body, JSON.parse(body.toString()))!.toString();
    expect(out).toBe(`{"model":"m","stream":true,"seed":${big},"messages":[],"stream_options":{"include_usage":true}}`);
  });

  it('rewrites only stream_options when the client sent it (first, middle or last member)', () => {
    for (const body of [
      `{"stream_options":{"include_usage":false},"model":"m","stream":true,"seed":${big}}`,
      `{"model":"m", "stream_options" : {"include_usage":false,"x":"}"} ,"stream":true,"seed":${big}}`,
      `{"model":"m","stream":true,"seed":${big},"stream_options":{"include_usage":false}}`,
    ]) {
      const out = withIncludeUsage(Buffer.from(body), JSON.parse(body))!.toString();
      expect(out).toContain(`"seed":${big}`);
      const parsed = JSON.parse(out);
      expect(parsed.stream_options.include_usage).toBe(true);
      expect(Object.keys(parsed).sort()).toEqual(['model', 'seed', 'stream', 'stream_options']);
    }
  });
});

describe('oversized events', () => {
  it('are forwarded whole while the usage chunk is being removed', () => {
    const huge = `data: {"choices":[{"delta":{"content":"${'x'.repeat(5 * 1024 * 1024)}"}}]}\n\n`;
    const usage = 'data: {"id":"1","choices":[],"usage":{"prompt_tokens":1}}\n\n';
    const stream = Buffer.from(`data: {"choices":[{"delta":{"content":"a"}}]}\n\n${huge}${usage}data: [DONE]\n\n`);
    const stripper = new UsageStripper(false);
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 65_536) {
      const piece = stripper.push(stream.subarray(at, at + 65_536));
      if (piece !== undefined) out.push(Buffer.from(piece));
    }
    const rest = stripper.end();
    if (rest !== undefined) out.push(rest);
    expect(Buffer.concat(out).toString()).toBe(stream.toString().replace(usage, ''));
  });

  it('are reported to the sink and parsing resumes at the next event', () => {
    const names: string[] = [];
    let skipped = 0;
    const splitter = new EventSplitter(
      { event: (event) => names.push(event.data.toString()), oversized: (bytes) => (skipped += bytes.length) },
      16,
    );
    splitter.push(Buffer.from(`data: a\n\ndata: ${'y'.repeat(40)}`));
    splitter.push(Buffer.from(`${'y'.repeat(40)}\n`));
    splitter.push(Buffer.from('\ndata: b\n\n'));
    expect(names).toEqual(['a', 'b']);
    expect(skipped).toBe(6 + 80 + 2);
  });
});

describe('the rest', () => {
  it('every flag is in the README options table with its variable', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const flag of FLAGS) expect(readme).toMatch(new RegExp(`\\| \`--${flag.name} [^|]*\\| \`${flag.env}\``));
  });

  it('reads the timeouts, the bound and the model list', () => {
    const config = parseCli(
      ['--header-timeout', '2s', '--drain-delay=5s', '--max-connections', '10', '--models', 'a, b'],
      { OLLAMA_OTEL_PROXY_UPSTREAM_HEADER_TIMEOUT: '0', OLLAMA_OTEL_PROXY_MAX_UNLISTED_MODELS: '0' },
    );
    expect(config).toMatchObject({
      headersTimeoutMillis: 2000,
      drainDelayMillis: 5000,
      maxConnections: 10,
      models: ['a', 'b'],
      upstreamHeadersTimeoutMillis: 0,
      maxUnlistedModels: 0,
      keepAliveTimeoutMillis: 65_000,
    });
    expect(() => parseCli(['--max-connections', '0'], {})).toThrow(/--max-connections/);
    expect(() => parseCli(['--body-timeout', 'soon'], {})).toThrow(/--body-timeout/);
  });

  it('derives the connection bound from the descriptor limit', () => {
    expect(
      defaultMaxConnections(() => 'Max open files            1024                 1048576              files'),
    ).toBe(480);
    expect(
      defaultMaxConnections(() => 'Max open files            1048576              1048576              files'),
    ).toBe(8192);
    expect(
      defaultMaxConnections(() => {
        throw new Error('no /proc');
      }),
    ).toBe(480);
  });

  it('never quotes an upstream value that may hold a secret', () => {
    for (const value of ['http://user:hunter2@host:1', 'http://host:1/?token=hunter2', 'http://[hunter2']) {
      expect(() => parseUpstream(value)).toThrow();
      try {
        parseUpstream(value);
      } catch (error) {
        expect((error as Error).message).not.toContain('hunter2');
      }
    }
  });

  it('scrubs credentials a user agent carries', () => {
    expect(scrubHeaderValue('my-app/1.0 (token=abc123; os=linux)')).toBe('my-app/1.0 (token=REDACTED; os=linux)');
    expect(scrubHeaderValue('curl/8.5 api_key: sk-123')).toBe('curl/8.5 api_key: REDACTED');
    expect(scrubHeaderValue('Mozilla/5.0 (X11; Linux x86_64)')).toBe('Mozilla/5.0 (X11; Linux x86_64)');
  });
});
