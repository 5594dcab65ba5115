/*
 * Request framing from a hostile client, on raw sockets: a body on any method carrying a second request
 * (smuggling), pipelining, response-queue poisoning under load, and ambiguous framing. Ollama (the test double,
 * which records every request it parsed) must never see bytes of one request as another, and every client gets
 * its own answer.
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Rig, startRig } from '../setup.js';
import { exchange, fromClients, RawClient, sleep, until } from './raw.js';

const QUESTION = [{ role: 'user', content: 'Why is the sky blue?' }];
const chat = (model: string, stream = false) => JSON.stringify({ model, messages: QUESTION, stream });

function head(method: string, path: string, headers: string[] = []): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
}

function withLength(method: string, path: string, body: string, headers: string[] = []): string {
  return head(method, path, [...headers, `Content-Length: ${Buffer.byteLength(body)}`]) + body;
}

function withChunks(method: string, path: string, body: string): string {
  const size = Buffer.byteLength(body).toString(16);
  return `${head(method, path, ['Transfer-Encoding: chunked'])}${size}\r\n${body}\r\n0\r\n\r\n`;
}

/** The second request a hostile body carries. */
const smuggled = (tag: string) => `GET /smuggled/${tag} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

/** Where each method goes: GenAI, management and pass-through routes of the proxy. */
const TARGETS: [string, string][] = [
  ['GET', '/api/tags'],
  ['HEAD', '/api/tags'],
  ['OPTIONS', '/'],
  ['DELETE', '/api/delete'],
  ['POST', '/api/blobs/sha256:0000'],
  ['PUT', '/api/blobs/sha256:0001'],
  ['PATCH', '/api/version'],
];

const smuggledSeen = (rig: Rig) => rig.double.requests.filter((r) => r.path.startsWith('/smuggled')).map((r) => r.path);

describe('request smuggling', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ double: { chunks: 4, chunkDelayMs: 5 } });
  });
  afterAll(() => rig?.close());

  it('never lets a body on any method reach Ollama as a request of its own', async () => {
    const port = rig.proxy.port;
    const problems: string[] = [];
    for (const [method, path] of TARGETS) {
      for (const framing of ['length', 'chunked'] as const) {
        const tag = `${method}-${framing}`;
        const body = smuggled(tag);
        const bytes = framing === 'length' ? withLength(method, path, body) : withChunks(method, path, body);
        const { client, responses } = await exchange(port, bytes, 1, [method]);
        const status = responses[0]?.status ?? 0;
        if (status === 0 || status >= 500) problems.push(`${tag}: answered ${status} ${client.text.slice(0, 200)}`);
        // The body reached Ollama framed, as the body of that request.
        else if (!rig.double.requests.some((r) => r.method === method && r.body === body)) {
          await until(
            () => rig.double.requests.some((r) => r.method === method && r.body === body),
            5000,
            `${tag} to reach the double with its body`,
          ).catch((error: Error) => problems.push(error.message));
        }
        await sleep(50);
        if (client.responses([method]).length > 1) problems.push(`${tag}: more than one answer`);
        client.destroy();
      }
    }
    // A smuggled request answered by Ollama would have been parsed right after the one carrying it.
    await sleep(300);
    expect(smuggledSeen(rig)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('answers pipelined requests in order, each its own', async () => {
    rig.double.clearRequests();
    const requests: [string, string][] = [
      ['GET', head('GET', '/api/version')],
      ['POST', withLength('POST', '/api/chat', chat('pipe-1'))],
      ['OPTIONS', withLength('OPTIONS', '/', smuggled('pipelined'))],
      ['POST', withLength('POST', '/api/show', JSON.stringify({ model: 'pipe-2' }))],
      ['HEAD', head('HEAD', '/api/tags')],
      ['POST', withChunks('POST', '/api/chat', chat('pipe-3'))],
      ['GET', head('GET', '/api/version')],
    ];
    const methods = requests.map(([method]) => method);
    const { client, responses } = await exchange(
      rig.proxy.port,
      requests.map(([, bytes]) => bytes).join(''),
      requests.length,
      methods,
    );
    expect(responses.map((r) => r.status)).toEqual([200, 404, 404, 404, 200, 404, 200]);
    expect(JSON.parse(responses[0]!.body.toString()).version).toBeTypeOf('string');
    expect(responses[1]!.body.toString()).toContain("'pipe-1'");
    expect(responses[2]!.body.toString()).toBe('404 page not found');
    expect(responses[3]!.body.toString()).toContain("'pipe-2'");
    expect(responses[4]!.body.length).toBe(0);
    expect(responses[5]!.body.toString()).toContain("'pipe-3'");
    expect(JSON.parse(responses[6]!.body.toString()).version).toBeTypeOf('string');
    await sleep(300);
    expect(client.responses(methods)).toHaveLength(requests.length);
    client.destroy();
    expect(smuggledSeen(rig)).toEqual([]);
    expect(rig.double.requests.some((r) => r.method === 'OPTIONS' && r.body === smuggled('pipelined'))).toBe(true);
  });
});

describe('response-queue poisoning', () => {
  const CLIENTS = 30;
  const PER_CLIENT = 6;
  let rig: Rig;

  beforeAll(async () => {
    // A known model answers only after 250 ms: a smuggled request for it would be answered late, on a
    // connection the proxy may meanwhile have given to another client (whose own answers take 60 ms).
    rig = await startRig({ double: { promptEvalMs: 250, chunks: 2 } });
    for (let id = 0; id < CLIENTS; id++) {
      for (let i = 0; i < PER_CLIENT; i++) {
        rig.double.script({ model: `victim-${id}-${i}`, fault: { kind: 'slow-headers', delayMs: 60 } });
      }
    }
  });
  afterAll(() => rig?.close());

  it('gives none of 30 concurrent clients an answer meant for another, while an attacker smuggles', async () => {
    const slow = chat('llama3.2');
    const slowRequest = `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(slow)}\r\n\r\n${slow}`;
    const misrouted: string[] = [];
    let answered = 0;
    let victimsDone = false;

    const attacker = (async () => {
      let round = 0;
      while (!victimsDone && round < 200) {
        const [method, path] = TARGETS[round % TARGETS.length]!;
        const bytes = round % 2 === 0 ? withLength(method, path, slowRequest) : withChunks(method, path, slowRequest);
        const { client } = await exchange(rig.proxy.port, bytes, 1, [method]);
        client.destroy();
        round++;
      }
    })();

    const victim = async (id: number) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < PER_CLIENT; i++) {
          const model = `victim-${id}-${i}`;
          const { status, body } = await post(rig.proxy.url, '/api/chat', chat(model), agent);
          answered++;
          if (status !== 404 || !body.includes(`'${model}'`))
            misrouted.push(`${model} got ${status} ${body.slice(0, 120)}`);
        }
      } finally {
        agent.destroy();
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, id) => victim(id)));
    victimsDone = true;
    await attacker;
    expect(answered).toBe(CLIENTS * PER_CLIENT);
    expect(misrouted).toEqual([]);
    // The slow request never reached Ollama as one: only bodies.
    await sleep(400);
    expect(rig.double.requests.filter((r) => r.path === '/api/chat' && (r.body as any)?.model === 'llama3.2')).toEqual(
      [],
    );
  }, 60_000);
});

function post(base: string, path: string, body: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('ambiguous framing', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ double: { chunks: 10, chunkDelayMs: 30 } });
  });
  afterAll(() => rig?.close());

  const body = chat('ambiguous');
  const CASES: [string, string][] = [
    [
      'Content-Length and Transfer-Encoding',
      `${head('POST', '/api/chat', [`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked'])}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ],
    [
      'Transfer-Encoding: chunked, gzip',
      `${head('POST', '/api/chat', ['Transfer-Encoding: chunked, gzip'])}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ],
    ['Transfer-Encoding: identity', `${head('POST', '/api/chat', ['Transfer-Encoding: identity'])}${body}`],
    [
      'two different Content-Lengths',
      `${head('POST', '/api/chat', [`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`])}${body} `,
    ],
    [
      'two Host headers',
      withLength('POST', '/api/chat', body, ['Host: 127.0.0.1:11434']).replace(
        'Host: 127.0.0.1\r\n',
        'Host: evil.example\r\n',
      ),
    ],
    ['an invalid chunk size', `${head('POST', '/api/chat', ['Transfer-Encoding: chunked'])}zz\r\n${body}\r\n0\r\n\r\n`],
    [
      'a chunk size with a sign',
      `${head('POST', '/api/chat', ['Transfer-Encoding: chunked'])}+${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ],
  ];

  it('answers 400 and closes the connection, and Ollama sees none of it', async () => {
    rig.double.clearRequests();
    const failures: string[] = [];
    for (const [name, bytes] of CASES) {
      const client = await RawClient.open(rig.proxy.port);
      client.write(bytes);
      try {
        await client.waitClosed(5000);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
        client.destroy();
        continue;
      }
      const responses = client.responses();
      if (responses.length !== 1 || responses[0]!.status !== 400) {
        failures.push(`${name}: got ${JSON.stringify(client.text.slice(0, 200))}`);
      }
    }
    await sleep(100);
    expect(failures).toEqual([]);
    expect(fromClients(rig.double.requests).map((r) => `${r.method} ${r.path} ${JSON.stringify(r.body)}`)).toEqual([]);
  });

  it('still delivers the answer before a pipelined request with broken framing complete, then 400 and close', async () => {
    const client = await RawClient.open(rig.proxy.port);
    // A stream of 10 chunks 30 ms apart, then a request whose Content-Length lies.
    client.write(
      withLength('POST', '/api/chat', chat('llama3.2', true)) +
        head('POST', '/api/chat', ['Content-Length: 12', 'Content-Length: 13']) +
        body,
    );
    await client.waitClosed(10_000);
    const responses = client.responses(['POST', 'POST']);
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    const lines = responses[0]!.body.toString().trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(JSON.parse(lines.at(-1)!).done).toBe(true);
    // Nothing after the 400.
    expect(responses[1]!.raw.length + responses[0]!.raw.length).toBe(client.data.length);
  });
});
