/**
 * Throwaway npm projects, as a user makes them: the packed tarballs of this repository's packages plus packages
 * from the registry, installed with plain `npm install` (npm's own layout, not pnpm's). npm's cache persists in
 * ~/.cache/ollama-otel/npm-cache and installs prefer it, so re-runs are fast.
 *
 * Without the registry these tests skip outside CI; with OLLAMA_OTEL_REQUIRE_REGISTRY=1 (.ci/run) they fail.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cleanEnv } from './node-child.js';

const exec = promisify(execFile);
export const REPOSITORY = fileURLToPath(new URL('../../../../', import.meta.url));
export const NPM_CACHE = join(homedir(), '.cache', 'ollama-otel', 'npm-cache');

/** Why the registry-backed tests cannot run here, or `undefined` when they can. Throws in CI. */
export async function registrySkipReason(): Promise<string | undefined> {
  try {
    await exec('npm', ['ping', '--cache', NPM_CACHE], { env: cleanEnv(), timeout: 20_000 });
    return undefined;
  } catch (error) {
    const reason = `the npm registry is unreachable (${String(error).split('\n')[0]})`;
    if (process.env.OLLAMA_OTEL_REQUIRE_REGISTRY === '1') throw new Error(`${reason} (OLLAMA_OTEL_REQUIRE_REGISTRY=1)`);
    console.warn(`SKIPPING npm-project tests: ${reason}`);
    return `${reason}: npm-project tests skipped`;
  }
}

export interface Tarballs {
  instrumentation: string;
  node: string;
  proxy: string;
}

/**
 * `pnpm pack` of the two published packages from their built `dist` (`pnpm test` builds first; `--ignore-scripts`
 * skips `prepack`, which would rebuild `dist` under the feet of tests running in parallel).
 */
export async function packPackages(): Promise<Tarballs> {
  const destination = mkdtempSync(join(tmpdir(), 'ollama-otel-tarballs-'));
  const pack = async (folder: string) => {
    await exec('pnpm', ['pack', '--ignore-scripts', '--pack-destination', destination], {
      cwd: join(REPOSITORY, 'packages', folder),
      env: cleanEnv(),
      timeout: 60_000,
    });
    const name = readdirSync(destination).find((file) => file.startsWith(`ollama-otel-${folder}-`));
    if (name === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${folder}`);
    return join(destination, name);
  };
  return { instrumentation: await pack('instrumentation'), node: await pack('node'), proxy: await pack('proxy') };
}

export interface NpmProject {
  readonly dir: string;
  /** Copies fixture files (relative to `from`) into the project. */
  copy(from: string, files: string[]): void;
  write(file: string, content: string): void;
  /** Every version of `name` installed anywhere in node_modules. */
  installedVersions(name: string): string[];
  remove(): void;
}

/** A fresh project with `dependencies`, installed. */
export async function npmProject(
  label: string,
  dependencies: Record<string, string>,
  manifest: Record<string, unknown> = {},
): Promise<NpmProject> {
  const dir = mkdtempSync(join(tmpdir(), `ollama-otel-${label}-`));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: label, version: '1.0.0', private: true, ...manifest, dependencies }, null, 2),
  );
  await exec(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', '--cache', NPM_CACHE],
    { cwd: dir, env: cleanEnv(), timeout: 300_000, maxBuffer: 16 << 20 },
  );
  return {
    dir,
    copy(from, files) {
      for (const file of files) {
        mkdirSync(join(dir, file, '..'), { recursive: true });
        copyFileSync(join(from, file), join(dir, file));
      }
    },
    write(file, content) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), content);
    },
    installedVersions: (name) => installedVersions(join(dir, 'node_modules'), name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function installedVersions(nodeModules: string, name: string): string[] {
  const versions: string[] = [];
  const visit = (folder: string) => {
    let entries: string[];
    try {
      entries = readdirSync(folder);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(join(folder, entry)))
          visitPackage(join(folder, entry, scoped), `${entry}/${scoped}`);
      } else visitPackage(join(folder, entry), entry);
    }
  };
  const visitPackage = (packageDir: string, packageName: string) => {
    if (packageName === name) {
      try {
        versions.push(JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version);
      } catch {
        // not a package
      }
    }
    visit(join(packageDir, 'node_modules'));
  };
  visit(nodeModules);
  return versions.sort();
}
