/*
 * Arize Phoenix on loopback, for the deploy tests and the screenshots: `phoenix serve` from the venv that
 * deploy/tools/python.sh makes of phoenix.txt, with a fresh SQLite working directory, its own ports and its
 * product telemetry off. OTLP/HTTP (protobuf) goes to `${url}/v1/traces`; the project a span lands in is its
 * resource's `openinference.project.name` ("default" without one).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Starts Phoenix with the venv's interpreter `python`, serving on `port` (HTTP: UI, REST API, OTLP/HTTP) and
 * `grpcPort` (OTLP/gRPC) of 127.0.0.1; resolves once /healthz answers (20-60 s: the first start
 * of a working directory runs every database migration).
 * @returns {Promise<{url: string, spans(project: string): Promise<any[]>, waitForSpans(project: string, count: number, filter?: (span: any) => boolean, timeoutMs?: number): Promise<any[]>, output(): string, close(): Promise<void>}>}
 */
export async function startPhoenix(python, { port, grpcPort, startTimeoutMs = 120_000 }) {
  const dir = mkdtempSync(join(tmpdir(), 'ollama-otel-phoenix-'));
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(join(dirname(python), 'phoenix'), ['serve'], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      PHOENIX_WORKING_DIR: dir,
      PHOENIX_HOST: '127.0.0.1',
      PHOENIX_PORT: String(port),
      PHOENIX_GRPC_PORT: String(grpcPort),
      PHOENIX_TELEMETRY_ENABLED: 'false',
      PYTHONWARNINGS: 'ignore',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`phoenix exited during startup:\n${output}`);
    }
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`phoenix not ready after ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  /** Every span of `project`, newest first, through Phoenix's REST API (404 until the project exists). */
  const spans = async (project) => {
    const all = [];
    let cursor;
    do {
      const query = new URLSearchParams({ limit: '1000', ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${url}/v1/projects/${encodeURIComponent(project)}/spans?${query}`);
      if (res.status === 404) return [];
      if (!res.ok) throw new Error(`GET spans of ${project}: HTTP ${res.status} ${await res.text()}`);
      const body = await res.json();
      all.push(...body.data);
      cursor = body.next_cursor;
    } while (cursor);
    return all;
  };
  /** Polls until at least `count` spans of `project` pass `filter`; resolves with all of the project's spans. */
  const waitForSpans = async (project, count, filter = () => true, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = await spans(project);
      const passing = found.filter(filter).length;
      if (passing >= count) return found;
      if (Date.now() > until) throw new Error(`${passing} of ${count} spans reached Phoenix project ${project}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  return { url, spans, waitForSpans, output: () => output, close };
}
