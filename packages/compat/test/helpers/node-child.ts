/**
 * Node child processes with a clean environment: nothing of the parent's OpenTelemetry or Ollama settings, and no
 * NODE_PATH (`pnpm exec` sets one that reaches every hoisted package, hiding the layouts under test).
 */
import { execFile } from 'node:child_process';

export interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(OTEL_|OLLAMA_|NODE_OPTIONS$|NODE_PATH$|NODE_V8_COVERAGE$|VITEST|npm_)/.test(key))
      env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `command` (default: this Node) to its end; never rejects on a non-zero exit. */
export function run(
  args: string[],
  options: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number; command?: string },
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      options.command ?? process.execPath,
      args,
      { cwd: options.cwd, env: cleanEnv(options.env), timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        if (error !== null && code === -1 && !error.killed) reject(error);
        else resolve({ code: error?.killed ? -1 : code, stdout, stderr });
      },
    );
  });
}

/** The JSON after `prefix` on the child's output, or an error that shows the whole output. */
export function printed<T>(result: ChildResult, prefix = 'RESULT '): T {
  const line = result.stdout.split('\n').find((each) => each.startsWith(prefix));
  if (line === undefined) {
    throw new Error(`no "${prefix}" line (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return JSON.parse(line.slice(prefix.length)) as T;
}
