// `pnpm bench`: every benchmark in this folder, one after the other, in fresh processes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benches = ['instrumentation.mjs', 'content-capture.mjs', 'startup.mjs', 'proxy.mjs', 'dead-collector.mjs'];
let failed = false;
for (const bench of benches) {
  const path = fileURLToPath(new URL(bench, import.meta.url));
  if (!existsSync(path)) continue;
  console.log(`\n=== bench/${bench} ===`);
  const { status } = spawnSync(process.execPath, ['--expose-gc', path], { stdio: 'inherit' });
  if (status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
