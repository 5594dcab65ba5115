/*
 * YAML -> JS for the structural checks. Uses the `yaml` npm package when it is installed (a root
 * devDependency), else Python's PyYAML (python3-yaml), which Debian-based machines have.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

type Parser = (text: string) => unknown;

async function findParser(): Promise<Parser | string> {
  const name = 'yaml';
  try {
    const mod = (await import(/* @vite-ignore */ name)) as { parse: Parser };
    return (text) => mod.parse(text);
  } catch {
    // not installed: try Python
  }
  const script = 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(python, ['-c', script], { input: 'a: 1', stdio: 'pipe' });
      return (text) => JSON.parse(execFileSync(python, ['-c', script], { input: text, encoding: 'utf8' }));
    } catch {
      // try the next one
    }
  }
  return 'no YAML parser: add the `yaml` devDependency at the repo root, or install python3-yaml';
}

const parser = await findParser();

/** Why YAML cannot be parsed here, or undefined. */
export const yamlSkipReason = typeof parser === 'string' ? parser : undefined;

export function parseYaml(text: string): any {
  if (typeof parser === 'string') throw new Error(parser);
  return parser(text);
}

export function loadYaml(file: string): any {
  return parseYaml(readFileSync(file, 'utf8'));
}
