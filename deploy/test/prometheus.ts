/*
 * A real Prometheus (Debian's 3.x from .tools/) on a loopback port with an empty TSDB in a temp dir, for the
 * deploy tests: PromQL parse checks, the scrape-mode relabelling test, and the end-to-end test that scrapes the
 * example service.
 *
 *   const prom = await startPrometheus({ configFile: 'deploy/prometheus/prometheus-scrape.yml',
 *     scrapeTargets: [{ targets: ['127.0.0.1:9464'], labels: { job: 'ollama-otel/express-chat' } }],
 *     scrapeInterval: '1s' });
 *   await prom.waitFor('up{job="ollama-otel/express-chat"} == 1');
 *   const series = await prom.query('sum(rate(gen_ai_client_operation_duration_seconds_count[1m]))');
 *   await prom.stop();
 *
 * Debian's Prometheus is built without the OTLP receiver (its `otlp:` config block is still parsed and
 * checked), so these tests exercise scrape mode; the OTLP path is covered by the name mapping they assert.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { repoRoot, tools } from './tools.js';

export interface TargetGroup {
  targets: string[];
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  /**
   * A Prometheus config to run unchanged (apart from `scrapeInterval`/`evaluationInterval`). It is copied into
   * the temp dir next to a symlink to its own rules/ dir and a fresh targets/ dir, so its relative `rule_files`
   * and `file_sd_configs` paths resolve there.
   */
  configFile?: string;
  /** Inline config YAML instead of configFile (relative paths resolve in the temp dir). */
  config?: string;
  /** Written to targets/test.yml for configs that use `file_sd_configs: [{files: [targets/*.yml]}]`. */
  scrapeTargets?: TargetGroup[];
  /** Replaces the config's `global.scrape_interval` (e.g. '1s' so a test sees several scrapes quickly). */
  scrapeInterval?: string;
  /** Replaces the config's `global.evaluation_interval` (rules). */
  evaluationInterval?: string;
  /** More command-line flags, e.g. `--web.enable-otlp-receiver`. */
  flags?: string[];
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RuleInfo {
  type: 'recording' | 'alerting';
  name: string;
  query: string;
  health: string;
  lastError?: string;
}

export interface NameMatcher {
  type: '=' | '=~' | '!=' | '!~';
  value: string;
}

export interface RunningPrometheus {
  url: string;
  dir: string;
  /** Instant query; throws with Prometheus' error (parse errors are HTTP 400) unless status is success. */
  query(expr: string): Promise<Sample[]>;
  /** Raw /api/v1/query response: HTTP status and body. */
  queryRaw(expr: string): Promise<{ status: number; body: any }>;
  /** Loaded rules, flattened across groups. */
  rules(): Promise<RuleInfo[]>;
  /** Metric names stored in the TSDB. */
  metricNames(): Promise<string[]>;
  /** The metric-name matchers (`__name__` = or =~) of every selector in `expr`, from Prometheus' own parser. */
  metricSelectors(expr: string): Promise<NameMatcher[]>;
  /** Polls until `expr` returns at least one sample. */
  waitFor(expr: string, timeoutMs?: number): Promise<Sample[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A free port for a server that is stopped and started again on the same port. `freePort()` hands out ports of
 * the kernel's ephemeral range, which any outgoing connection may take while the server is down (a restarted
 * collector then failed with "address already in use"); this one comes from below that range, which the kernel
 * never assigns by itself.
 */
export async function restartablePort(): Promise<number> {
  const low = ephemeralRangeStart();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between 10000 and ${low}`);
}

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function setGlobal(config: string, key: string, value: string | undefined): string {
  if (!value) return config;
  const pattern = new RegExp(`^(\\s+${key}:\\s*)\\S+`, 'm');
  if (!pattern.test(config)) throw new Error(`config has no global ${key} to replace`);
  return config.replace(pattern, `$1${value}`);
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'ollama-otel-prom-'));
  let config: string;
  let configName = 'prometheus.yml';
  if (options.configFile) {
    const source = resolve(repoRoot, options.configFile);
    configName = basename(source);
    config = readFileSync(source, 'utf8');
    symlinkSync(join(dirname(source), 'rules'), join(dir, 'rules'));
  } else {
    config = options.config ?? 'global: {}\n';
  }
  config = setGlobal(config, 'scrape_interval', options.scrapeInterval);
  config = setGlobal(config, 'evaluation_interval', options.evaluationInterval);
  writeFileSync(join(dir, configName), config);
  mkdirSync(join(dir, 'targets'));
  if (options.scrapeTargets) {
    // JSON is YAML: file_sd reads it from a .yml file.
    writeFileSync(join(dir, 'targets', 'test.yml'), JSON.stringify(options.scrapeTargets, null, 2));
  }

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    tools.prometheus,
    [
      `--config.file=${join(dir, configName)}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(options.flags ?? []),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  let exited = false;
  const exit = new Promise<void>((done) =>
    child.once('exit', () => {
      exited = true;
      done();
    }),
  );

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exit, new Promise((r) => setTimeout(r, 5000))]);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`prometheus exited during startup:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready after 20s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const queryRaw = async (expr: string) => {
    const res = await fetch(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const query = async (expr: string) => {
    const { status, body } = await queryRaw(expr);
    if (status !== 200 || body.status !== 'success') {
      throw new Error(`query failed (HTTP ${status}, ${body.errorType}: ${body.error}):\n${expr}`);
    }
    if (body.data.resultType !== 'vector') {
      throw new Error(`expected an instant vector, got ${body.data.resultType}:\n${expr}`);
    }
    return body.data.result as Sample[];
  };

  return {
    url,
    dir,
    query,
    queryRaw,
    async rules() {
      const body = (await (await fetch(`${url}/api/v1/rules`)).json()) as any;
      return body.data.groups.flatMap((g: any) => g.rules) as RuleInfo[];
    },
    async metricNames() {
      const body = (await (await fetch(`${url}/api/v1/label/__name__/values`)).json()) as any;
      return body.data as string[];
    },
    async metricSelectors(expr) {
      const res = await fetch(`${url}/api/v1/parse_query`, {
        method: 'POST',
        body: new URLSearchParams({ query: expr }),
      });
      const body = (await res.json()) as any;
      if (body.status !== 'success') throw new Error(`parse_query failed (${body.error}):\n${expr}`);
      const found: NameMatcher[] = [];
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === 'object') {
          for (const m of (node as any).matchers ?? [])
            if (m.name === '__name__') found.push({ type: m.type, value: m.value });
          Object.values(node).forEach(walk);
        }
      };
      walk(body.data);
      return found;
    },
    async waitFor(expr, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const result = await query(expr);
        if (result.length > 0) return result;
        if (Date.now() > until) throw new Error(`no result for ${expr} after ${timeoutMs}ms\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    stop,
  };
}
