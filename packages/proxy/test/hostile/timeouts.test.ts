/*
 * Clients and an upstream that stall: headers trickled (slowloris), a socket that sends nothing, a body that
 * stops, an idle kept-alive connection, an upstream that stops mid-answer. Each is closed once its timeout
 * passed (never before) and well within a slack generous for a busy machine; a slow but steady body is not cut.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../../src/index.js';
import type { ProxyOptions, RunningProxy } from '../../src/types.js';
import { type Rig, startRig } from '../setup.js';
import { errorShape, fromClients, RawClient, type RawUpstream, sleep, startRawUpstream, until } from './raw.js';

const HEADERS_TIMEOUT = 500;
const BODY_TIMEOUT = 500;
const KEEP_ALIVE_TIMEOUT = 400;
const UPSTREAM_BODY_TIMEOUT = 500;
/** How late a close may come on a busy machine. */
const SLACK = 5000;
/** Timers may fire a little early against Date.now(). */
const EARLY = 20;

const TIMEOUTS = {
  headersTimeoutMillis: HEADERS_TIMEOUT,
  bodyIdleTimeoutMillis: BODY_TIMEOUT,
  keepAliveTimeoutMillis: KEEP_ALIVE_TIMEOUT,
  upstreamBodyIdleTimeoutMillis: UPSTREAM_BODY_TIMEOUT,
} satisfies ProxyOptions;

const chat = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: false });

describe('client timeouts', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ proxy: TIMEOUTS });
  });
  afterAll(() => rig?.close());

  it('closes a slowloris connection (headers trickled) once the headers timeout passed', async () => {
    const client = await RawClient.open(rig.proxy.port);
    client.write('POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    for (let i = 0; !client.closed && Date.now() - client.openedAt < HEADERS_TIMEOUT + SLACK; i++) {
      await sleep(100);
      client.write(`X-Trickle-${i}: ${'a'.repeat(10)}\r\n`);
    }
    const elapsed = await client.waitClosed(1000);
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - EARLY);
    expect(elapsed).toBeLessThan(HEADERS_TIMEOUT + SLACK);
    const responses = client.responses();
    if (responses.length > 0) expect(responses[0]!.status).toBe(408);
    expect(fromClients(rig.double.requests)).toEqual([]);
  });

  it('closes a silent connection once the headers timeout passed', async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(rig.proxy.port)));
    for (const client of clients) {
      const elapsed = await client.waitClosed(HEADERS_TIMEOUT + SLACK);
      expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - EARLY);
    }
  });

  it('answers 408 and closes when a GenAI request body stalls (a slow but steady one goes through)', async () => {
    // The timeout is on pauses, not on the whole body: one that keeps coming, for longer than it, is answered.
    const steady = chat('steady-but-slow');
    const slow = await RawClient.open(rig.proxy.port);
    slow.write(`POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${steady.length}\r\n\r\n`);
    const pieces = 8;
    const size = Math.ceil(steady.length / pieces);
    for (let i = 0; i < pieces; i++) {
      slow.write(steady.slice(i * size, (i + 1) * size));
      await sleep(BODY_TIMEOUT / 3);
    }
    const [answered] = await slow.waitForResponses(1, 10_000, ['POST']);
    expect(answered?.status, slow.text).toBe(404);
    expect(answered!.body.toString()).toContain("'steady-but-slow'");
    slow.destroy();

    const body = chat('stalled');
    const client = await RawClient.open(rig.proxy.port);
    client.write(`POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`);
    client.write(body.slice(0, 20));
    const lastByteAt = Date.now();
    await client.waitClosed(BODY_TIMEOUT + SLACK);
    expect(client.closedAt! - lastByteAt).toBeGreaterThanOrEqual(BODY_TIMEOUT - EARLY);
    const [response] = client.responses(['POST']);
    expect(response?.status, client.text).toBe(408);
    expect(errorShape(response!.body.toString())).toBe('ollama');
    expect(rig.double.requests.filter((r) => (r.body as { model?: string })?.model === 'stalled')).toEqual([]);
  });

  it('closes an idle kept-alive connection once the keep-alive timeout passed', async () => {
    const client = await RawClient.open(rig.proxy.port);
    // The server's keep-alive timer starts after it answered, so after the request was sent.
    const sentAt = Date.now();
    client.write('GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const [response] = await client.waitForResponses(1, 5000);
    const answeredAt = Date.now();
    expect(response?.status).toBe(200);
    expect(response?.headers.connection ?? 'keep-alive').toMatch(/keep-alive/i);
    await client.waitClosed(KEEP_ALIVE_TIMEOUT + 4000);
    expect(client.closedAt! - sentAt).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT - EARLY);
    expect(client.closedAt! - answeredAt).toBeLessThan(KEEP_ALIVE_TIMEOUT + 4000);
  });
});

describe('stalls on the way through', () => {
  let upstream: RawUpstream;
  let proxy: RunningProxy;
  /** When the stalling upstream wrote its one chunk: the proxy's idle timer cannot have started before. */
  let chunkWrittenAt = 0;

  beforeAll(async () => {
    upstream = await startRawUpstream(async (request, socket) => {
      if (request.target === '/stall-answer') {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n');
        chunkWrittenAt = Date.now();
        socket.write('6\r\n{"a":1\r\n');
        return new Promise(() => {}); // and nothing more
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    proxy = await startProxy({ upstream: upstream.url, port: 0, ...TIMEOUTS });
  });
  afterAll(async () => {
    await proxy?.close(0);
    await upstream?.close();
  });

  it('aborts the upstream request of a pass-through body that stalls, and answers 408', async () => {
    const client = await RawClient.open(proxy.port);
    client.write('POST /api/blobs/sha256:1234 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789');
    const lastByteAt = Date.now();
    // The upstream got the request started (pass-through streams the body up).
    await until(() => upstream.connections.opened > 0, 5000, 'the upstream request');
    await client.waitClosed(BODY_TIMEOUT + SLACK);
    expect(client.closedAt! - lastByteAt).toBeGreaterThanOrEqual(BODY_TIMEOUT - EARLY);
    const [response] = client.responses(['POST']);
    expect(response?.status, client.text).toBe(408);
    await until(() => upstream.connections.closed > 0, SLACK, 'the upstream connection to be closed');
    expect(upstream.requests).toEqual([]);
  });

  it('cuts the client response once the upstream stopped sending for the upstream body timeout', async () => {
    const client = await RawClient.open(proxy.port);
    client.write('GET /stall-answer HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => client.text.includes('{"a":1'), 5000, 'the first chunk');
    await client.waitClosed(UPSTREAM_BODY_TIMEOUT + SLACK);
    expect(client.closedAt! - chunkWrittenAt).toBeGreaterThanOrEqual(UPSTREAM_BODY_TIMEOUT - EARLY);
    expect(client.closedAt! - chunkWrittenAt).toBeLessThan(UPSTREAM_BODY_TIMEOUT + SLACK);
    // Cut: no terminating chunk.
    expect(client.text).not.toMatch(/\r\n0\r\n\r\n$/);
  });
});
