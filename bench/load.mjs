// What the proxy benchmarks share (bench/proxy.mjs, bench/peers/proxy.mjs): child processes that print a ready line,
// CPU and memory of a process tree from /proc, and the statistics.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Spawns `command args` and resolves `{ proc, url }` once its stdout matches `ready` (group 1 = the URL). */
export function child(args, env, ready, command = process.execPath, options = {}) {
  const proc = spawn(command, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    ...options,
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const match = ready.exec(out);
      if (match) resolve({ proc, url: match[1] });
    });
    proc.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out}`)));
  });
}

/** The process and all its descendants (a Python server's workers, say). */
export function processTree(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    for (const task of readdirSync(`/proc/${pids[i]}/task`)) {
      const children = readFileSync(`/proc/${pids[i]}/task/${task}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(' ').map(Number));
    }
  }
  return pids;
}

/** Total CPU time of a process tree (all threads), in microseconds. */
export function cpuMicros(pid) {
  let total = 0;
  for (const each of processTree(pid)) {
    for (const task of readdirSync(`/proc/${each}/task`)) {
      total += Number(readFileSync(`/proc/${each}/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1000;
    }
  }
  return total;
}

/** Resident memory of a process tree, in MiB. */
export function rssMiB(pid) {
  let kb = 0;
  for (const each of processTree(pid)) {
    kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${each}/status`, 'utf8'))?.[1] ?? 0);
  }
  return kb / 1024;
}

export const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
export const median = (values) => {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
};
export const fmt = (value, digits = 3) => (value === undefined ? '–' : value.toFixed(digits));
