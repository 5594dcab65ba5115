/**
 * Extra instrumentations given to startTelemetry() (issue 10): one instrumentation per name, the user's winning,
 * so the README's `instrumentations: [new HttpInstrumentation()]` and `getNodeAutoInstrumentations()` do not add
 * a second HTTP instrumentation (doubled spans, `no original to unwrap` at shutdown). In child processes: an app
 * whose HTTP server asks itself one question and calls Ollama from the handler.
 */
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, runNode } from './helpers/child.js';
import { type OtlpGrpcReceiver, startOtlpGrpcReceiver } from './helpers/otlp-grpc-receiver.js';

let double: OllamaDouble;
let grpc: OtlpGrpcReceiver;

beforeAll(async () => {
  [double, grpc] = await Promise.all([startOllamaDouble(), startOtlpGrpcReceiver()]);
});
afterAll(async () => {
  await Promise.all([double?.close(), grpc?.close()]);
});
beforeEach(() => {
  grpc.store.clear();
});

const HTTP_SCOPE = '@opentelemetry/instrumentation-http';
/** OTLP `Span.SpanKind` */
const SERVER = 2;
const CLIENT = 3;

describe.each([
  ['new HttpInstrumentation()', 'http'],
  ['getNodeAutoInstrumentations()', 'auto'],
  ['two HttpInstrumentations', 'twice'],
  ['an OllamaInstrumentation of its own', 'ollama'],
  ['nothing extra', 'none'],
])('instrumentations: %s', (_name, extra) => {
  it('one HTTP server span, one HTTP client span and one chat span; nothing on stderr at shutdown', async () => {
    const result = await runNode(
      ['--import', join(FIXTURES, 'extra-instrumentations.mjs'), join(FIXTURES, 'http-app.mjs')],
      {
        env: {
          APP_EXTRA: extra,
          OLLAMA_HOST: double.url,
          OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
          OLLAMA_OTEL_HOST_METRICS: 'false',
          OLLAMA_OTEL_RUNTIME_METRICS: 'false',
          OTEL_METRICS_EXPORTER: 'none',
        },
      },
    );
    expect(result.stderr).not.toContain('no original to unwrap');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('answer: ok\n');
    expect(result.code).toBe(0);

    const http = grpc.store.spans.filter((span) => span.scope === HTTP_SCOPE);
    expect(http.map((span) => span.kind).sort()).toEqual([SERVER, CLIENT]);
    expect(grpc.store.operations()).toEqual(['chat']);
    // The chat span is a child of the server span: the request the app handled is its parent.
    const server = http.find((span) => span.kind === SERVER);
    const chat = grpc.store.spans.find((span) => span.attributes['gen_ai.operation.name'] === 'chat');
    expect(chat?.traceId).toBe(server?.traceId);
    // The app's own Ollama instrumentation is the one that made it.
    if (extra === 'ollama') expect(chat?.attributes['app.hook']).toBe('theirs');
  });
});
