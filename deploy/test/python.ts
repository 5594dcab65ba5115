/*
 * Python environments for the tests that run the setups this project replaces (Python clients, Phoenix):
 * deploy/tools/python.sh makes one venv per pinned requirements file, cached outside the repository.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipReason } from './skip.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface PythonEnv {
  /** The venv's interpreter, when it could be made. */
  python?: string;
  /** Why the tests that need it skip (locally; in CI a missing venv throws instead). */
  skip?: string;
}

/**
 * The venv for `requirements` (a path from the repository root), made now if the cache lacks it: a cold install
 * downloads from PyPI (seconds to a few minutes); a warm one takes milliseconds.
 */
export function pythonEnv(requirements: string, timeoutMs = 15 * 60_000): PythonEnv {
  try {
    const venv = execFileSync('bash', [join(repoRoot, 'deploy/tools/python.sh'), join(repoRoot, requirements)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    }).trim();
    return { python: join(venv, 'bin', 'python') };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const problem = (e.stderr ?? e.message).trim().split('\n').slice(-3).join(' / ');
    return { skip: skipReason(`Python venv ${requirements}`, problem, `bash deploy/tools/python.sh ${requirements}`) };
  }
}
