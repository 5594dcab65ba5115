/*
 * Where the deploy tools live (.tools/, filled by deploy/tools/install.sh) and whether the tests can run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipReason } from './skip.js';

export { skipReason };

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const deployDir = join(repoRoot, 'deploy');
export const toolsDir = process.env.OLLAMA_OTEL_TOOLS_DIR ?? join(repoRoot, '.tools');

export const tools = {
  prometheus: join(toolsDir, 'bin', 'prometheus'),
  promtool: join(toolsDir, 'bin', 'promtool'),
  dockerCompose: join(toolsDir, 'bin', 'docker-compose'),
};

/**
 * Why the tools at `paths` cannot run here (missing, or `<tool> <version args>` fails), or undefined. The version
 * arguments are `--version` unless `versionArgs` names others for a tool.
 */
export function checkTools(
  paths: Record<string, string>,
  versionArgs: Record<string, string[]> = { dockerCompose: ['version'] },
): string | undefined {
  for (const [name, path] of Object.entries(paths)) {
    if (!existsSync(path)) return `${name} not found at ${path}`;
    try {
      execFileSync(path, versionArgs[name] ?? ['--version'], { stdio: 'pipe', timeout: 10_000 });
    } catch (error) {
      return `${path} does not run: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** Why the Prometheus/promtool/compose tests cannot run here, or undefined when they can. */
export const toolsSkipReason = skipReason('deploy tools', checkTools(tools), 'bash deploy/tools/install.sh');

/** Runs a tool; returns its stdout, or throws with stdout+stderr in the message. */
export function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; cleanEnv?: boolean } = {},
): string {
  // cleanEnv: only PATH and HOME from the caller, so a developer's exported settings cannot change the result.
  const base = options.cleanEnv ? { PATH: process.env.PATH, HOME: process.env.HOME } : process.env;
  try {
    return execFileSync(file, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...base, ...options.env },
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 30_000,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}
