/*
 * Header names and paths as an attacker writes them: `__proto__`/`constructor` headers, a duplicate Host, a
 * credential in the User-Agent, a secret in an invalid --upstream, and non-normalized paths that Ollama would
 * route to /api/chat (so the proxy must too: the GenAI span and the body limit apply).
 */
import { spawn } from 'node:child_process';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../../src/index.js';
import type { RunningProxy } from '../../src/types.js';
import { type Rig, serverSpans, settled, startRig } from '../setup.js';
import { CLI, cliEnv, exchange, fromClients, RawClient, type RawUpstream, startRawUpstream } from './raw.js';

const OBJECT_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

describe('header names that are Object.prototype members', () => {
  let upstream: RawUpstream;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startRawUpstream((_request, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    });
    proxy = await startProxy({ upstream: upstream.url, port: 0 });
  });
  afterAll(async () => {
    await proxy?.close(0);
    await upstream?.close();
  });

  it.each([
    ['a pass-through route', 'GET', '/api/ps', ''],
    ['a GenAI route', 'POST', '/api/chat', '{"model":"llama3.2","messages":[],"stream":false}'],
  ])('are forwarded as sent on %s, and never fabricated', async (_name, method, path, body) => {
    const sentHeaders = ['__proto__: a', 'constructor: b', 'toString: c'];
    const framing = body === '' ? [] : [`Content-Length: ${body.length}`];
    const head = (extra: string[]) =>
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${[...extra, ...framing].map((h) => `${h}\r\n`).join('')}\r\n${body}`;
    const count = upstream.requests.length;
    const withNames = await exchange(proxy.port, head(sentHeaders), 1, [method]);
    expect(withNames.responses[0]?.status, withNames.client.text).toBe(200);
    const without = await exchange(proxy.port, head([]), 1, [method]);
    expect(without.responses[0]?.status).toBe(200);
    withNames.client.destroy();
    without.client.destroy();
    const [first, second] = upstream.requests.slice(count);
    const isObjectName = ([name]: [string, string]) => OBJECT_NAMES.some((n) => n.toLowerCase() === name.toLowerCase());
    const pairs = first!.headerPairs.filter(isObjectName);
    expect(pairs.map(([name, value]) => `${name.toLowerCase()}: ${value}`).sort()).toEqual(
      ['__proto__: a', 'constructor: b', 'tostring: c'].sort(),
    );
    expect(second!.headerPairs.filter(isObjectName)).toEqual([]);
  });
});

describe('requests to the double', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ proxy: { maxBodyBytes: 2048 } });
  });
  afterAll(() => rig?.close());

  it('answers 400 and closes for two Host headers, even equal ones', async () => {
    const client = await RawClient.open(rig.proxy.port);
    client.write('GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n');
    await client.waitClosed(5000);
    expect(client.responses()[0]?.status, client.text).toBe(400);
    expect(fromClients(rig.double.requests)).toEqual([]);
  });

  it('does not export a credential in the User-Agent verbatim', async () => {
    rig.telemetry.reset();
    const before = serverSpans(rig.telemetry).length;
    const { client, responses } = await exchange(
      rig.proxy.port,
      'GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl token=abc123 key:k3y-s3cret\r\n\r\n',
    );
    client.destroy();
    expect(responses[0]?.status).toBe(200);
    await settled(rig, before + 1);
    const agent = String(serverSpans(rig.telemetry).at(-1)!.attributes['user_agent.original']);
    expect(agent).toContain('curl');
    expect(agent).not.toContain('abc123');
    expect(agent).not.toContain('k3y-s3cret');
  });

  const PATHS = ['/api/chat/', '/api/./chat', '/api//chat', '/api/%63hat', '/api/x/../chat'];

  it.each(PATHS)('routes %s as POST /api/chat: GenAI span, body limit, normalized upstream path', async (path) => {
    rig.telemetry.reset();
    rig.double.clearRequests();
    const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
    const small = await exchange(
      rig.proxy.port,
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      1,
      ['POST'],
    );
    small.client.destroy();
    expect(small.responses[0]?.status, small.client.text.slice(0, 300)).toBe(200);
    await settled(rig, 1);
    const genai = rig.telemetry.spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(genai.map((s) => s.attributes['gen_ai.operation.name'])).toEqual(['chat']);
    expect(serverSpans(rig.telemetry)[0]!.attributes['http.route']).toBe('/api/chat');
    expect(fromClients(rig.double.requests).map((r) => r.path)).toEqual(['/api/chat']);

    const large = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'x'.repeat(3000) }] });
    const refused = await exchange(
      rig.proxy.port,
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${large.length}\r\n\r\n${large}`,
      1,
      ['POST'],
    );
    refused.client.destroy();
    expect(refused.responses[0]?.status).toBe(413);
    expect(fromClients(rig.double.requests)).toHaveLength(1);
  });

  it('answers 400 to a path that climbs above the root', async () => {
    rig.double.clearRequests();
    const { client, responses } = await exchange(
      rig.proxy.port,
      'GET /../api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    );
    client.destroy();
    expect(responses[0]?.status).toBe(400);
    expect(fromClients(rig.double.requests)).toEqual([]);
  });
});

describe('an invalid --upstream', () => {
  const SECRET = 'hunter2-s3cret-value';

  it.each([
    ['a password', ['--upstream', `http://user:${SECRET}@127.0.0.1:11434`], {}],
    ['a query token', ['--upstream', `http://127.0.0.1:11434/?token=${SECRET}`], {}],
    ['a fragment', ['--upstream', `http://127.0.0.1:11434/#${SECRET}`], {}],
    ['an unsupported scheme with a password', ['--upstream', `ftp://user:${SECRET}@127.0.0.1`], {}],
    [
      'the variable, with a query token',
      [],
      { OLLAMA_OTEL_PROXY_UPSTREAM: `http://127.0.0.1:11434?api_key=${SECRET}` },
    ],
  ])('with %s: exit 2, and the message does not contain the secret', async (_name, args, env) => {
    const child = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', ...args], {
      env: cliEnv(env as Record<string, string>),
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code, output).toBe(2);
    expect(output).toMatch(/upstream/i);
    expect(output).not.toContain(SECRET);
  });
});
