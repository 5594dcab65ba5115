/*
 * `pnpm screenshots` (deploy/screenshots/take.mjs) runs end to end, into a temp folder: Phoenix, Prometheus and
 * Chromium for real, two PNGs of a real size, and the trace it photographed is a cold start.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { pythonEnv } from './python.js';
import { skipReason } from './skip.js';
import { repoRoot, run } from './tools.js';

function toolProblem(script: string): string | undefined {
  try {
    run('bash', [join(repoRoot, 'deploy', 'tools', script)]);
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n').slice(-3).join(' / ');
  }
}

const env = pythonEnv('deploy/phoenix/phoenix.txt');
const skip =
  env.skip ??
  skipReason('Chromium', toolProblem('chromium.sh'), 'bash deploy/tools/chromium.sh') ??
  skipReason('Prometheus with a UI', toolProblem('prometheus-ui.sh'), 'bash deploy/tools/prometheus-ui.sh');

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const png = readFileSync(file);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.skipIf(skip)('pnpm screenshots', () => {
  const out = mkdtempSync(join(tmpdir(), 'ollama-otel-screenshots-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('photographs a cold-start chat trace in Phoenix and the key queries in Prometheus', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(repoRoot, 'deploy', 'screenshots', 'take.mjs'), '--out', out],
      { env: { ...process.env, SCREENSHOTS_TRAFFIC_MS: '8000' }, timeout: 240_000 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report.coldStartSpan.name).toBe('chat llama3.2');
    expect(report.coldStartSpan.loadSeconds).toBeGreaterThan(1);
    expect(pngSize(join(out, 'phoenix-cold-start-trace.png'))).toEqual({ width: 1600, height: 1000 });
    const prometheus = pngSize(join(out, 'prometheus-queries.png'));
    expect(prometheus.width).toBeGreaterThanOrEqual(1400);
    expect(prometheus.height).toBeGreaterThan(2000);
  }, 300_000);
});
