/*
 * Drain on SIGTERM (the CLI in a child process) and on close(): /healthz says 503 at once so a load balancer
 * stops sending; during the drain delay new connections are still answered; a connection accepted just before
 * the signal that sends its request after it is answered, never reset; in-flight streams finish; exit 0.
 */
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Rig, startRig } from '../setup.js';
import { type CliProcess, exchange, RawClient, sleep, startCli, until } from './raw.js';

const chat = (stream: boolean) =>
  JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'Why?' }], stream });

describe('SIGTERM with --drain-delay', () => {
  let double: OllamaDouble;
  let cli: CliProcess;

  beforeAll(async () => {
    double = await startOllamaDouble({ chunks: 20, chunkDelayMs: 25 });
    cli = await startCli([
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      double.url,
      '--drain-delay',
      '3s',
      '--grace-period',
      '10s',
    ]);
  });
  afterAll(async () => {
    cli?.kill();
    await double?.close();
  });

  it('answers what arrives during the drain, finishes streams, and exits 0', async () => {
    const streams = Array.from({ length: 3 }, () =>
      fetch(`${cli.url}/api/chat`, { method: 'POST', body: chat(true) }).then((response) => response.text()),
    );
    await until(
      () => double.requests.filter((r) => r.path === '/api/chat').length >= 3,
      5000,
      'the streams to reach the double',
    );
    const early = await RawClient.open(cli.port);
    await sleep(10);
    cli.child.kill('SIGTERM');
    await until(() => /SIGTERM/.test(cli.output()), 5000, 'the proxy to take the signal');

    // Accepted before the signal, its request sent after: answered.
    early.write(
      `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${chat(false).length}\r\n\r\n${chat(false)}`,
    );
    const [answer] = await early.waitForResponses(1, 10_000, ['POST']);
    expect(early.error?.code).toBeUndefined();
    expect(answer?.status, early.text.slice(0, 300)).toBe(200);
    expect(JSON.parse(answer!.body.toString()).done).toBe(true);

    // Health says 503 at once; a new connection is still served during the delay.
    const health = await exchange(cli.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(health.responses[0]?.status).toBe(503);
    health.client.destroy();
    const late = await exchange(cli.port, 'GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(late.responses[0]?.status).toBe(200);
    expect(late.responses[0]?.headers.connection).toMatch(/close/i);
    late.client.destroy();
    early.destroy();

    for (const body of await Promise.all(streams)) {
      const lines = body.trim().split('\n');
      expect(lines).toHaveLength(21);
      expect(JSON.parse(lines.at(-1)!).done).toBe(true);
    }
    expect(await cli.exited).toBe(0);
  }, 30_000);
});

describe('close() with a drain delay', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ proxy: { drainDelayMillis: 1000 } });
  });
  afterAll(() => rig?.close());

  it('is draining at once, answers /healthz 503, and closes idle kept-alive connections', async () => {
    const idle = await RawClient.open(rig.proxy.port);
    idle.write('GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await idle.waitForResponses(1, 5000);
    const closing = rig.proxy.close(5000);
    expect(rig.proxy.draining).toBe(true);
    const health = await exchange(rig.proxy.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(health.responses[0]?.status).toBe(503);
    health.client.destroy();
    await idle.waitClosed(5000);
    expect(idle.error?.code).toBeUndefined();
    await closing;
  });
});
