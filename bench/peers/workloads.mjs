// The calls each arm makes. Loopback workloads talk HTTP to the Ollama test double (its own process); the
// `-inproc` ones answer from memory through a `fetch` passed to the client (no socket), as bench/instrumentation.mjs
// does, so the harness can compare the two transports under the same arms.

import { setTimeout as sleep } from 'node:timers/promises';

export const STREAM_CHUNKS = 200;

const question = [{ role: 'user', content: 'Why is the sky blue?' }];
export const CHAT_REQUEST = { model: 'llama3.2', messages: question };
export const STREAM_REQUEST = { model: 'llama3.2', messages: question, stream: true };
export const EMBED_REQUEST = { model: 'all-minilm', input: 'Why is the sky blue?' };

/** Text that must never appear in exported telemetry (the arms are configured not to record content). */
export const CONTENT_MARKERS = ['Why is the sky blue', 'The sky is blue because', 'Llamas'];

async function drain(stream) {
  let chunks = 0;
  for await (const _chunk of stream) chunks++;
  if (chunks !== STREAM_CHUNKS) throw new Error(`expected ${STREAM_CHUNKS} chunks, got ${chunks}`);
}

/** name → { unit, perOp (units per operation), transport, run(client) } */
export const WORKLOADS = {
  chat: {
    title: 'chat, non-streamed',
    unit: 'call',
    perOp: 1,
    transport: 'loopback',
    run: (c) => c.chat(CHAT_REQUEST),
  },
  embed: { title: 'embed', unit: 'call', perOp: 1, transport: 'loopback', run: (c) => c.embed(EMBED_REQUEST) },
  stream: {
    title: `chat, streamed (${STREAM_CHUNKS} chunks)`,
    unit: 'chunk',
    perOp: STREAM_CHUNKS,
    transport: 'loopback',
    run: async (c) => drain(await c.chat(STREAM_REQUEST)),
  },
  'chat-inproc': {
    title: 'chat, non-streamed, in-process fetch',
    unit: 'call',
    perOp: 1,
    transport: 'inproc',
    run: (c) => c.chat(CHAT_REQUEST),
  },
  'chat-inproc-idle': {
    title: 'chat, non-streamed, in-process fetch answering after a 1 ms timer (the process idles mid-call)',
    unit: 'call',
    perOp: 1,
    transport: 'inproc-idle',
    run: (c) => c.chat(CHAT_REQUEST),
  },
  'chat-inproc-short': {
    title: 'chat, non-streamed, in-process fetch, 47-character reply (bench/instrumentation.mjs)',
    unit: 'call',
    perOp: 1,
    transport: 'inproc-short',
    run: (c) => c.chat(CHAT_REQUEST),
  },
  'embed-inproc': {
    title: 'embed, in-process fetch',
    unit: 'call',
    perOp: 1,
    transport: 'inproc',
    run: (c) => c.embed(EMBED_REQUEST),
  },
  'stream-inproc': {
    title: `chat, streamed (${STREAM_CHUNKS} chunks), in-process fetch`,
    unit: 'chunk',
    perOp: STREAM_CHUNKS,
    transport: 'inproc',
    run: async (c) => drain(await c.chat(STREAM_REQUEST)),
  },
};

/** Operations per round: non-streamed calls and streams of 200 chunks take about the same time per round. */
export function defaultOps(name, calls) {
  const workload = WORKLOADS[name];
  // No socket: each call is several times cheaper (and the idle variant waits 1 ms per call, like loopback).
  const scale = workload.transport === 'loopback' || workload.transport === 'inproc-idle' ? 1 : 5;
  return workload.unit === 'chunk' ? Math.max(1, Math.round((calls * scale) / 8)) : calls * scale;
}

// --- in-process transport: bodies shaped like the double's ---
const doneFields = {
  done: true,
  done_reason: 'stop',
  total_duration: 6921230,
  load_duration: 507352,
  prompt_eval_count: 15,
  prompt_eval_duration: 5410,
  eval_count: 220,
  eval_duration: 847871,
};
const chatBody = JSON.stringify({
  model: 'llama3.2',
  created_at: '2026-12-01T09:26:45.113774059Z',
  message: {
    role: 'assistant',
    content: 'The sky is blue because molecules in the air scatter blue light. '.repeat(15),
  },
  ...doneFields,
});
const embedBody = JSON.stringify({
  model: 'all-minilm',
  embeddings: [Array.from({ length: 384 }, (_, i) => Math.sin(i) / 10)],
  total_duration: 14143917,
  load_duration: 1019500,
  prompt_eval_count: 8,
});
const streamBody = (() => {
  const lines = [];
  for (let i = 0; i < STREAM_CHUNKS - 1; i++) {
    const chunk = {
      model: 'llama3.2',
      created_at: '2026-12-01T09:26:45.165240468Z',
      message: { role: 'assistant', content: ` tok${i}` },
      done: false,
    };
    lines.push(`${JSON.stringify(chunk)}\n`);
  }
  const last = { model: 'llama3.2', created_at: '2026-12-01T09:26:45.2Z', message: { role: 'assistant', content: '' } };
  lines.push(`${JSON.stringify({ ...last, ...doneFields })}\n`);
  return new TextEncoder().encode(lines.join(''));
})();
const shortChatBody = JSON.stringify({
  model: 'llama3.2',
  created_at: '2025-10-17T23:14:07.414671Z',
  message: { role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.' },
  ...doneFields,
});
const jsonHeaders = { 'content-type': 'application/json; charset=utf-8' };
const ndjsonHeaders = { 'content-type': 'application/x-ndjson' };

export async function inProcessShortFetch() {
  return new Response(shortChatBody, { headers: jsonHeaders });
}

/** The in-process answer, after a real 1 ms timer: the process goes idle between request and response. */
export async function inProcessIdleFetch(url, init) {
  await sleep(1);
  return inProcessFetch(url, init);
}

export async function inProcessFetch(url, init) {
  if (url.endsWith('/api/embed')) return new Response(embedBody, { headers: jsonHeaders });
  if (JSON.parse(init.body).stream) return new Response(streamBody, { headers: ndjsonHeaders });
  return new Response(chatBody, { headers: jsonHeaders });
}
