/*
 * The Helm chart deploy/helm/ollama-otel in the tests: `helm template` with a values file, the rendered objects, and
 * the collector configs it renders (what deploy/test/fleet.test.ts runs). Tools from deploy/tools/fleet.sh.
 */
import { join } from 'node:path';
import { checkTools, deployDir, run, skipReason, toolsDir } from './tools.js';
import { parseYaml } from './yaml.js';

export const chartDir = join(deployDir, 'helm', 'ollama-otel');
export const valuesFiles = ['sidecar', 'standalone', 'tail-sampling', 'dcgm'].map((name) =>
  join(chartDir, 'ci', `${name}-values.yaml`),
);
export const fleetTools = {
  helm: join(toolsDir, 'bin', 'helm'),
  kubeconform: join(toolsDir, 'bin', 'kubeconform'),
  otelcolFleet: join(toolsDir, 'bin', 'otelcol-fleet'),
};
/** kubeconform's schema locations: Kubernetes' (strict) and the Prometheus Operator's CRDs. */
export const schemaDir = join(toolsDir, 'k8s-schemas');

/** Why the chart tests cannot run here, or undefined (CI: a missing tool fails them). */
export const fleetSkipReason = skipReason(
  'the fleet tools (helm, kubeconform, otelcol-fleet)',
  checkTools(fleetTools, { helm: ['version'], kubeconform: ['-v'] }),
  'bash deploy/tools/fleet.sh',
);

export const RELEASE = 'fleet';

/** Values set on the command line after the values files: strings as they are, numbers and booleans typed. */
export type SetValues = Record<string, string | number | boolean>;

/** `helm template` of the chart: its output. */
export function template(files: string[], set: SetValues = {}): string {
  const args = ['template', RELEASE, chartDir, '--namespace', 'observability'];
  for (const file of files) args.push('-f', file);
  for (const [key, value] of Object.entries(set)) {
    args.push(typeof value === 'string' ? '--set-string' : '--set', `${key}=${value}`);
  }
  return run(fleetTools.helm, args, { cleanEnv: true });
}

/** The rendered objects (empty documents dropped). */
export function render(files: string[], set: SetValues = {}): any[] {
  return template(files, set)
    .split(/^---$/m)
    .map((doc) => parseYaml(doc))
    .filter((doc) => doc !== null && typeof doc === 'object');
}

export function findObject(objects: any[], kind: string, nameSuffix: string): any {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (!found) throw new Error(`no ${kind} named *${nameSuffix} among ${objects.map((o) => o.metadata.name)}`);
  return found;
}

/** The collector configs the chart renders, by tier (agent, gateway, loadbalancer), as the ConfigMaps hold them. */
export function collectorConfigs(objects: any[]): Record<string, { text: string; config: any }> {
  const configs: Record<string, { text: string; config: any }> = {};
  for (const o of objects) {
    const text = o.kind === 'ConfigMap' ? o.data?.['config.yaml'] : undefined;
    if (typeof text !== 'string') continue;
    const tier = o.metadata.labels['app.kubernetes.io/component'];
    configs[tier] = { text, config: parseYaml(text) };
  }
  return configs;
}

/** A collector config as the pod with IP `podIp` runs it: the downward API's MY_POD_IP filled in. */
export function configAt(text: string, podIp: string): any {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the Collector's own ${env:...} syntax
  return parseYaml(text.replaceAll('${env:MY_POD_IP}', podIp));
}

/**
 * A random 127.x.y prefix (a /24 of loopback addresses) for one test run: the chart's collectors listen on fixed
 * ports (4317, 4318, 8888, 13133), so each one gets an address of its own, and two runs on one machine do not collide.
 */
export function loopbackNet(): string {
  return `127.${2 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
}
