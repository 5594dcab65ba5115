/**
 * The code a user pastes from a package README, extracted mechanically so that the README and the test cannot
 * drift apart:
 *   - a JavaScript block starts with a `// <file>` line and is written to that file; one that cannot be run says
 *     why in a `<!-- not run: reason -->` line just before it;
 *   - a shell block is a list of commands: `npm install ...` lines (the packages the project installs) and `node`
 *     or `npm start` command lines (run), each with its `NAME=value` variables.
 */
export interface CodeBlock {
  language: string;
  code: string;
  /** From the `// <file>` first line. */
  file: string | undefined;
  notRun: string | undefined;
  line: number;
}

export interface ShellCommand {
  env: Record<string, string>;
  argv: string[];
  text: string;
}

const FENCE = /^```(\w*)\n([\s\S]*?)^```$/gm;
const JAVASCRIPT = new Set(['js', 'mjs', 'cjs', 'ts', 'javascript', 'typescript']);

export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  for (const match of markdown.matchAll(FENCE)) {
    const before = markdown.slice(0, match.index).trimEnd().split('\n').at(-1) ?? '';
    const code = match[2] ?? '';
    blocks.push({
      language: match[1] ?? '',
      code,
      file: /^\/\/ ([\w.-]+\.(?:mjs|cjs|js|ts|mts|cts))\s*$/m.exec(code.split('\n')[0] ?? '')?.[1],
      notRun: /<!-- not run: (.+) -->/.exec(before)?.[1],
      line: markdown.slice(0, match.index).split('\n').length,
    });
  }
  return blocks;
}

export function isJavaScript(block: CodeBlock): boolean {
  return JAVASCRIPT.has(block.language);
}

/** The commands of a shell block: continuations joined, comments and blank lines dropped. */
export function shellCommands(code: string): ShellCommand[] {
  const commands: ShellCommand[] = [];
  for (const raw of code.replace(/\\\n\s*/g, ' ').split('\n')) {
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    if (text === '') continue;
    const words = shellWords(text);
    const env: Record<string, string> = {};
    while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
      const [name, ...value] = words.shift()!.split('=');
      env[name!] = value.join('=');
    }
    commands.push({ env, argv: words, text });
  }
  return commands;
}

function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g)) words.push(match[0].replace(/["']/g, ''));
  return words;
}

/** Bare specifiers a block imports or requires (not `node:` built-ins, not relative paths), as package names. */
export function importedPackages(code: string): string[] {
  const names = new Set<string>();
  for (const match of code.matchAll(/(?:from\s+|require\(\s*|import\(\s*)['"]([^'"]+)['"]/g)) {
    const specifier = match[1]!;
    if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return [...names];
}
