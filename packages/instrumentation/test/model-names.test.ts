import { afterEach, describe, expect, it } from 'vitest';
import { points, type Rig, startRig, USER_QUESTION } from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const DURATION = 'gen_ai.client.operation.duration';

async function chatWithModels(r: Rig, models: string[]): Promise<void> {
  for (const model of models) {
    await r.client.chat({ model, messages: USER_QUESTION }).catch(() => undefined);
  }
}

function metricModels(metrics: Awaited<ReturnType<Rig['telemetry']['collectMetrics']>>): string[] {
  const values = points(metrics, DURATION).map((point) => String(point.attributes['gen_ai.request.model']));
  return [...new Set(values)].sort();
}

describe('model names on metrics', () => {
  it('records the first maxUnlistedModelNames names as they are and every later one as _OTHER', async () => {
    rig = await startRig({ config: { maxUnlistedModelNames: 3, serverPhaseSpans: false } });
    const made = Array.from({ length: 50 }, (_, i) => `made-up-${i}`);
    await chatWithModels(rig, ['llama3.2', ...made]);
    const metrics = await rig.telemetry.collectMetrics();
    expect(metricModels(metrics)).toEqual(['_OTHER', 'llama3.2', 'made-up-0', 'made-up-1'].sort());
    const other = points(metrics, DURATION, { 'gen_ai.request.model': '_OTHER' });
    expect(other.reduce((total, point) => total + point.value.count, 0)).toBe(48);
    // Spans keep the name the caller chose.
    const spanModels = rig.telemetry.spans().map((span) => span.attributes['gen_ai.request.model']);
    expect(spanModels).toContain('made-up-49');
  });

  it('always records the names in metricModelNames, without spending the unlisted budget on them', async () => {
    rig = await startRig({
      config: { maxUnlistedModelNames: 1, metricModelNames: ['llama3.2', 'qwen3'], serverPhaseSpans: false },
    });
    await chatWithModels(rig, ['llama3.2', 'qwen3', 'first-unlisted', 'second-unlisted', 'llama3.2']);
    expect(metricModels(await rig.telemetry.collectMetrics())).toEqual([
      '_OTHER',
      'first-unlisted',
      'llama3.2',
      'qwen3',
    ]);
  });

  it('bounds the response model too, and an invalid setting falls back to the default of 100', async () => {
    rig = await startRig({ config: { maxUnlistedModelNames: -1 as number, serverPhaseSpans: false } });
    const made = Array.from({ length: 120 }, (_, i) => `m-${i}`);
    await chatWithModels(rig, made);
    const models = metricModels(await rig.telemetry.collectMetrics());
    expect(models).toHaveLength(101);
    expect(models).toContain('_OTHER');
  });
});
