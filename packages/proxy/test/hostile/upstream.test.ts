/*
 * A hostile upstream (node:net, scripted bytes): odd status lines, invalid headers, 101, truncated or overlong
 * bodies, headers that never come. The client that asked gets a 502/504 in its API's shape or a cut connection;
 * concurrent well-behaved requests get their own answers; later requests are not poisoned by leftover bytes; the
 * process (in-process and the CLI in a child) stays alive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../src/types.js';
import { rawRequest } from '../setup.js';
import {
  type CliProcess,
  errorShape,
  exchange,
  type RawUpstream,
  sleep,
  startCli,
  startRawUpstream,
  startTracedProxy,
  type TracedProxy,
} from './raw.js';

const HOSTILE: Record<string, string> = {
  'status-099': 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok',
  'status-600': 'HTTP/1.1 600 X\r\nContent-Length: 2\r\n\r\nok',
  'control-in-reason': 'HTTP/1.1 200 O\u0001K\r\nContent-Length: 2\r\n\r\nok',
  'garbage-status-line': 'HTPT/1.1 two hundred\r\nContent-Length: 2\r\n\r\nok',
  'invalid-header-name': 'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok',
  'invalid-header-value': 'HTTP/1.1 200 OK\r\nX-Bad: a\u0000b\r\nContent-Length: 2\r\n\r\nok',
  'switching-protocols':
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nTUNNELLED-BYTES-FROM-UPSTREAM',
};
/** Cases where a complete, correct answer is also acceptable for the client that asked. */
const TRUNCATED =
  'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n';
const OVERLONG = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npwned!';

/** The case a request asks for: its path after `/bad/`, or its model on `/api/chat` and `/v1/chat/completions`. */
function caseOf(target: string, body: Buffer): string {
  if (target.startsWith('/bad/') || target.startsWith('/ok/')) return target.slice(1);
  try {
    return `bad/${JSON.parse(body.toString()).model}`;
  } catch {
    return 'unknown';
  }
}

function startHostile(): Promise<RawUpstream> {
  return startRawUpstream(async (request, socket) => {
    const name = caseOf(request.target, request.body);
    if (name.startsWith('ok/')) {
      await sleep(100);
      const body = JSON.stringify({ ok: name });
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    const kind = name.slice('bad/'.length);
    if (kind === 'silent') return new Promise(() => {}); // never answers on this connection
    if (kind === 'truncated-chunked') {
      socket.end(TRUNCATED);
      return;
    }
    if (kind === 'overlong') {
      socket.write(OVERLONG);
      return;
    }
    const bytes = HOSTILE[kind];
    if (bytes === undefined) socket.destroy();
    else socket.write(bytes);
  });
}

const CASES = [...Object.keys(HOSTILE), 'truncated-chunked', 'overlong', 'silent'];

interface Outcome {
  name: string;
  status: number;
  reason?: string;
  body: string;
  cut: boolean;
}

async function attempt(base: string, method: string, path: string, body?: string): Promise<Outcome> {
  try {
    const response = await rawRequest(base, method, path, body, body ? { 'content-type': 'application/json' } : {});
    return {
      name: path,
      status: response.status,
      reason: response.statusMessage,
      body: response.body.toString('latin1'),
      cut: response.cut,
    };
  } catch (error) {
    return { name: path, status: 0, body: String(error), cut: true };
  }
}

/**
 * What the client that asked may see: a 502 (504 for silence) in the route's shape, or a cut connection; for an
 * overlong body its declared bytes, and for a control character in the reason phrase the answer with a clean one.
 */
function acceptable(kind: string, outcome: Outcome, shape: 'ollama' | 'openai'): string | undefined {
  const where = `${kind}: ${outcome.status} ${outcome.cut ? 'cut ' : ''}${outcome.body.slice(0, 160)}`;
  if (outcome.body.includes('pwned') || outcome.body.includes('TUNNELLED')) return `leaked upstream bytes: ${where}`;
  if (outcome.cut) return undefined;
  if (kind === 'overlong' && outcome.status === 200 && outcome.body === 'hello') return undefined;
  // The proxy writes the standard reason phrase, never the upstream's: the control character never reaches the client.
  if (kind === 'control-in-reason' && outcome.status === 200 && outcome.reason === 'OK' && outcome.body === 'ok') {
    return undefined;
  }
  const expected = kind === 'silent' ? 504 : 502;
  if (outcome.status !== expected) return `expected ${expected} or a cut: ${where}`;
  if (errorShape(outcome.body) !== shape) return `not in the ${shape} shape: ${where}`;
  return undefined;
}

describe('a hostile upstream, in-process', () => {
  let upstream: RawUpstream;
  let traced: TracedProxy;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startHostile();
    traced = await startTracedProxy(upstream, {
      upstreamHeadersTimeoutMillis: 500,
      upstreamBodyIdleTimeoutMillis: 1000,
    });
    proxy = traced.proxy;
  });
  afterAll(() => traced?.close());

  it('answers each malformed answer with a 502/504 or a cut, for that client only', async () => {
    const bad = CASES.flatMap((kind) => [
      attempt(proxy.url, 'GET', `/bad/${kind}`).then((outcome) => ({ kind, shape: 'ollama' as const, outcome })),
      attempt(
        proxy.url,
        'POST',
        '/api/chat',
        JSON.stringify({ model: kind, messages: [{ role: 'user', content: 'hi' }], stream: false }),
      ).then((outcome) => ({ kind, shape: 'ollama' as const, outcome })),
      attempt(
        proxy.url,
        'POST',
        '/v1/chat/completions',
        JSON.stringify({ model: kind, messages: [{ role: 'user', content: 'hi' }], stream: true }),
      ).then((outcome) => ({ kind, shape: 'openai' as const, outcome })),
    ]);
    const good = Array.from({ length: 10 }, (_, i) => attempt(proxy.url, 'GET', `/ok/${i}`));
    const [badOutcomes, goodOutcomes] = await Promise.all([Promise.all(bad), Promise.all(good)]);
    const problems = badOutcomes
      .map(({ kind, shape, outcome }) => acceptable(kind, outcome, shape))
      .filter((problem) => problem !== undefined);
    expect(problems).toEqual([]);
    goodOutcomes.forEach((outcome, i) => {
      expect(outcome.status, outcome.body).toBe(200);
      expect(JSON.parse(outcome.body)).toEqual({ ok: `ok/${i}` });
    });
    // Bytes an upstream sent past its answer poison no later request.
    for (let round = 0; round < 5; round++) {
      const overlong = await attempt(proxy.url, 'GET', '/bad/overlong');
      expect(acceptable('overlong', overlong, 'ollama')).toBeUndefined();
      for (let i = 0; i < 3; i++) {
        const next = await attempt(proxy.url, 'GET', `/ok/${round}-${i}`);
        expect(next.body).not.toContain('pwned');
        expect(next.status, next.body).toBe(200);
        expect(JSON.parse(next.body)).toEqual({ ok: `ok/${round}-${i}` });
      }
    }
  });

  it('never tunnels a client Upgrade request, even when the upstream switches protocols', async () => {
    const count = upstream.requests.length;
    const { client, responses } = await exchange(
      proxy.port,
      'GET /bad/switching-protocols HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await sleep(100);
    expect([0, 502]).toContain(responses[0]?.status ?? 0);
    expect(client.text).not.toContain('TUNNELLED');
    expect(client.text).not.toMatch(/^HTTP\/1\.1 101/);
    client.destroy();
    for (const request of upstream.requests.slice(count)) expect(request.headers.upgrade).toBeUndefined();
  });

  it('answers 504 once the upstream headers timeout passed, not before', async () => {
    const started = Date.now();
    const outcome = await attempt(proxy.url, 'GET', '/bad/silent');
    const elapsed = Date.now() - started;
    expect(outcome.status).toBe(504);
    expect(errorShape(outcome.body)).toBe('ollama');
    expect(elapsed).toBeGreaterThanOrEqual(480);
    expect(elapsed).toBeLessThan(500 + 5000);
  });
});

describe('a hostile upstream, the CLI in a child process', () => {
  let upstream: RawUpstream;
  let cli: CliProcess;

  beforeAll(async () => {
    upstream = await startHostile();
    cli = await startCli([
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      upstream.url,
      '--upstream-header-timeout',
      '500ms',
      '--metrics',
      'off',
    ]);
  });
  afterAll(async () => {
    cli?.kill();
    await upstream?.close();
  });

  it('stays alive and keeps serving after every malformed answer', async () => {
    const outcomes = await Promise.all(
      CASES.map((kind) => attempt(cli.url, 'GET', `/bad/${kind}`).then((outcome) => ({ kind, outcome }))),
    );
    const problems = outcomes.map(({ kind, outcome }) => acceptable(kind, outcome, 'ollama')).filter(Boolean);
    expect(problems).toEqual([]);
    await sleep(100);
    expect(cli.child.exitCode, cli.output()).toBeNull();
    expect(cli.child.signalCode).toBeNull();
    const after = await attempt(cli.url, 'GET', '/ok/after');
    expect(after.status, cli.output()).toBe(200);
    expect(JSON.parse(after.body)).toEqual({ ok: 'ok/after' });
    expect(cli.output()).not.toMatch(/uncaught|unhandled/i);
  });
});
