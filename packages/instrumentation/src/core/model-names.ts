/*
 * The one rule that keeps model names, which callers choose, from growing metric cardinality without bound. A
 * name becomes a metric attribute value when it is allowed (configured), known (the front end learnt it from
 * the server, e.g. the proxy from `/api/tags`), or one of the first `maxUnlisted` other names; every later name
 * is recorded as `_OTHER`. Spans keep the real name: one span per call costs the same whatever the name.
 */

/** The metric value of a model name beyond the bound. */
export const MODEL_NAME_OVERFLOW_VALUE = '_OTHER';
export const DEFAULT_MAX_UNLISTED_MODEL_NAMES = 100;
/** Longer names are never admitted (no real model tag is this long). */
const MAX_MODEL_NAME_LENGTH = 256;

export class MetricModelNames {
  private readonly admitted = new Set<string>();
  private known: ReadonlySet<string> = new Set();
  private onMiss: (() => void) | undefined;

  /** `maxUnlisted`: read on each new name, so a changed configuration applies to the next one. */
  constructor(
    private readonly allowed: () => ReadonlySet<string>,
    private readonly maxUnlisted: () => number,
  ) {}

  /** The names the server lists (`llama3.2:latest` also admits `llama3.2`). */
  setKnown(names: Iterable<string>): void {
    const known = new Set<string>();
    for (const name of names) {
      known.add(name);
      if (name.endsWith(':latest')) known.add(name.slice(0, -':latest'.length));
    }
    this.known = known;
  }

  /** Called (at most as often as the caller rate-limits it) when a name is neither allowed nor known. */
  whenUnknown(listener: () => void): void {
    this.onMiss = listener;
  }

  /** The value to record for `name` on metrics. */
  metricValue(name: string | undefined): string | undefined {
    if (name === undefined || this.admitted.has(name)) return name;
    if (this.allowed().has(name) || this.known.has(name)) return name;
    this.onMiss?.();
    if (name.length > MAX_MODEL_NAME_LENGTH || this.admitted.size >= this.maxUnlisted()) {
      return MODEL_NAME_OVERFLOW_VALUE;
    }
    this.admitted.add(name);
    return name;
  }
}
