/*
 * The gaps between a stream's chunks, for `time_per_output_chunk`: one point per chunk after the first, as the
 * conventions ask, recorded in batches rather than as each chunk arrives. The points are the same; recording a
 * batch in a tight loop keeps the SDK's per-point work (it hashes the attributes on every call) hot in the
 * caches, and keeps it off the path that hands the chunk to the application. A batch is recorded when full and
 * when the call ends, so no point is ever lost or recorded after its span ended.
 */
import type { Attributes, Histogram } from '@opentelemetry/api';

const BATCH = 64;

export class ChunkGaps {
  private readonly seconds = new Float64Array(BATCH);
  private count = 0;

  constructor(
    private readonly histogram: Histogram,
    private readonly attributes: Attributes,
  ) {}

  add(seconds: number): void {
    this.seconds[this.count++] = seconds;
    if (this.count === BATCH) this.flush();
  }

  flush(): void {
    const { histogram, attributes, seconds } = this;
    for (let i = 0; i < this.count; i++) histogram.record(seconds[i]!, attributes);
    this.count = 0;
  }
}
