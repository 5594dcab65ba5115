/*
 * deploy/collector/config.yaml against a real collector binary (otelcorecol: core components, built from Debian's
 * sources by deploy/tools/otelcol.sh): which components it may use, and `otelcorecol validate` on it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  builtComponents,
  CONTRIB_COMPONENTS,
  collectorSkipReason,
  KINDS,
  otelcol,
  shippedConfig,
  typeOf,
  withoutContrib,
} from './collector.js';
import { deployDir } from './tools.js';

let dir: string;

/** `otelcorecol validate` on `config` (an object, or the path of a file); its exit status and output. */
function validate(config: object | string): { status: number; output: string } {
  let file = config as string;
  if (typeof config !== 'string') {
    file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, JSON.stringify(config)); // JSON is YAML
  }
  try {
    const output = execFileSync(otelcol, ['validate', `--config=${file}`], { encoding: 'utf8', stdio: 'pipe' });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

/** Every component type the config defines or names, per kind (connectors appear as receivers/exporters too). */
function usedTypes(config: any): Record<string, Set<string>> {
  const used = Object.fromEntries(KINDS.map((kind) => [kind, new Set<string>()]));
  for (const kind of KINDS) for (const id of Object.keys(config[kind] ?? {})) used[kind]!.add(typeOf(id));
  for (const id of config.service.extensions ?? []) used.extensions!.add(typeOf(id));
  return used;
}

/** The used types that are neither built in nor listed contrib components, as `kind/type`. */
function unlisted(used: Record<string, Set<string>>, built: Record<string, string[]>): string[] {
  return KINDS.flatMap((kind) =>
    [...used[kind]!]
      .filter((type) => !built[kind]!.includes(type) && !CONTRIB_COMPONENTS[kind].includes(type))
      .map((type) => `${kind}/${type}`),
  );
}

describe.skipIf(collectorSkipReason)('the collector config on a real collector (otelcorecol, core components)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ollama-otel-validate-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the core build of the packaged version, with the components Debian ships', () => {
    expect(execFileSync(otelcol, ['--version'], { encoding: 'utf8' })).toMatch(/^otelcorecol version 0\.\d+\.\d+/);
    const built = builtComponents();
    console.log(`otelcorecol components: ${KINDS.map((kind) => `${kind} ${built[kind].join(', ')}`).join('; ')}`);
    expect(built.receivers).toEqual(expect.arrayContaining(['otlp']));
    expect(built.processors).toEqual(expect.arrayContaining(['batch', 'memory_limiter']));
    expect(built.exporters).toEqual(expect.arrayContaining(['otlp_grpc', 'otlp_http', 'debug']));
  });

  it('uses only components of the core build, or listed contrib ones (which the core build really lacks)', () => {
    const built = builtComponents();
    const used = usedTypes(shippedConfig());
    expect(unlisted(used, built), 'neither in the core build nor in CONTRIB_COMPONENTS').toEqual([]);
    // A listed "contrib" component that the core build has after all, or that the config no longer uses: stale.
    for (const kind of KINDS) {
      for (const type of CONTRIB_COMPONENTS[kind]) {
        expect(built[kind], `${kind}/${type} is in the core build: drop it from CONTRIB_COMPONENTS`).not.toContain(
          type,
        );
        expect([...used[kind]!], `${kind}/${type} is unused: drop it from CONTRIB_COMPONENTS`).toContain(type);
      }
    }
  });

  it('that check catches a component in neither (a contrib processor, a typo)', () => {
    const config = shippedConfig();
    config.processors.span_metrics = {};
    config.exporters['otlphttpp/typo'] = {};
    expect(unlisted(usedTypes(config), builtComponents())).toEqual(['processors/span_metrics', 'exporters/otlphttpp']);
  });

  it('validates (`otelcorecol validate`) with the contrib components taken out', () => {
    const stripped = withoutContrib(shippedConfig());
    // Only the contrib ones went: every pipeline and every other component is as shipped.
    expect(Object.keys(stripped.service.pipelines)).toEqual(Object.keys(shippedConfig().service.pipelines));
    expect(Object.keys(stripped.extensions ?? {})).toEqual([]);
    const result = validate(stripped);
    console.log(
      `otelcorecol validate (shipped config without ${CONTRIB_COMPONENTS.extensions}): exit ${result.status}`,
    );
    expect(result, result.output).toMatchObject({ status: 0 });
  });

  it('fails validation as shipped only on the contrib components (so validate can fail, and the strip is needed)', () => {
    const result = validate(join(deployDir, 'collector', 'config.yaml'));
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('\'extensions\' unknown type: "health_check"');
  });

  it('fails validation on a broken pipeline', () => {
    const broken = withoutContrib(shippedConfig());
    broken.service.pipelines.traces.exporters.push('otlp_grpc/missing');
    const result = validate(broken);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/otlp_grpc\/missing/);
  });
});
