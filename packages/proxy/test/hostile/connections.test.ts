/*
 * The connection bound: past maxConnections a client gets a fast 503 with `Connection: close`, and serving
 * resumes once connections close. Then the real thing: the CLI with 1,024 descriptors and its default bound,
 * 1,100 idle sockets opened against it: a new client is answered (503 or served, never left hanging) and once the
 * idle sockets are gone the proxy serves again.
 */
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Rig, startRig } from '../setup.js';
import { type CliProcess, errorShape, exchange, RawClient, sleep, startCli, until } from './raw.js';

const VERSION = 'GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

/** One request on a fresh connection; resolves with its status (0: closed without an answer). */
async function statusOf(port: number, timeoutMs = 5000): Promise<number> {
  const { responses } = await exchange(port, VERSION, 1, [], timeoutMs);
  return responses[0]?.status ?? 0;
}

/** Retries (bounded) until a fresh connection is served: the proxy learns of closed sockets asynchronously. */
async function servedWithin(port: number, timeoutMs: number): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await statusOf(port).catch(() => -1);
    seen.push(status);
    if (status === 200) return seen;
    await sleep(50);
  }
  throw new Error(`never served again within ${timeoutMs} ms: ${seen.join(', ')}`);
}

describe('maxConnections', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ proxy: { maxConnections: 3, headersTimeoutMillis: 30_000 } });
  });
  afterAll(() => rig?.close());

  it('answers connection N+1 at once with 503 and Connection: close, and serves again once others close', async () => {
    const idle = await Promise.all(Array.from({ length: 3 }, () => RawClient.open(rig.proxy.port)));
    await sleep(50);
    const extra = await RawClient.open(rig.proxy.port);
    // It sends nothing: the answer comes anyway, and fast.
    const elapsed = await extra.waitClosed(3000);
    expect(elapsed).toBeLessThan(3000);
    const [refused] = extra.responses();
    expect(refused?.status, extra.text).toBe(503);
    expect(refused!.headers.connection).toMatch(/close/i);
    expect(refused!.headers['content-type']).toMatch(/application\/json/);
    expect(errorShape(refused!.body.toString())).toBe('ollama');
    for (const client of idle) expect(client.closed).toBe(false);

    idle[0]!.destroy();
    await servedWithin(rig.proxy.port, 5000);
    for (const client of idle) client.destroy();
    await servedWithin(rig.proxy.port, 5000);
    const statuses = await Promise.all(Array.from({ length: 3 }, () => statusOf(rig.proxy.port)));
    expect(statuses).toEqual([200, 200, 200]);
  });
});

describe('descriptor exhaustion (the CLI under prlimit --nofile=1024:1024)', () => {
  let double: OllamaDouble;
  let cli: CliProcess;
  const idle: RawClient[] = [];

  beforeAll(async () => {
    double = await startOllamaDouble({ recordRequests: false });
    cli = await startCli(['--listen', '127.0.0.1:0', '--upstream', double.url, '--metrics', 'off'], {
      wrapper: ['prlimit', '--nofile=1024:1024', '--'],
    });
  });
  afterAll(async () => {
    for (const client of idle) client.destroy();
    cli?.kill();
    await double?.close();
  });

  it('answers a new client while 1,100 idle sockets are open, and serves again once they are gone', async () => {
    for (let batch = 0; batch < 11; batch++) {
      const opened = await Promise.all(
        Array.from({ length: 100 }, () => RawClient.open(cli.port).catch(() => undefined)),
      );
      for (const client of opened) if (client !== undefined) idle.push(client);
    }
    expect(idle.length).toBeGreaterThan(1000);
    // A new client is answered: refused with a 503 or served, never left hanging.
    const status = await statusOf(cli.port, 10_000);
    expect([200, 503]).toContain(status);
    expect(cli.child.exitCode, cli.output()).toBeNull();
    // Those over the bound were refused and closed by the proxy; the rest are still open.
    const stillOpen = () => idle.filter((client) => !client.closed).length;
    await until(() => stillOpen() <= 1024 - 64, 5000, 'the sockets over the bound to be closed');
    for (const client of idle) client.destroy();
    await servedWithin(cli.port, 10_000);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => statusOf(cli.port)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(cli.child.exitCode, cli.output()).toBeNull();
  }, 60_000);
});
