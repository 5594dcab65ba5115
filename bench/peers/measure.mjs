// CPU, wall time, V8 heap bytes allocated and GC of one measured window.
//
// CPU: `process.cpuUsage()` delta, user + system, of the whole arm process: its JS thread, V8's GC helper threads
// and libuv's pool, so GC and socket syscalls count; the double's CPU is in another process and does not. Split,
// for the estimator in report.mjs, into the JS thread's own time outside GC pauses (the mutator:
// `process.threadCpuUsage()` minus the GCProfiler's pause times) and the rest (GC pauses and every other thread).
// No forced GC before a window: GCs fall where the allocations put them, so that their sum over the windows of
// an arm is what its allocations cost.
//
// Bytes allocated: Node 24 has no allocation counter (`v8.getHeapStatistics().total_allocated_bytes` arrives in a
// later Node; used when present). Without it: every byte allocated on the V8 heap during the window is either
// still in `used_heap_size` at its end or was freed by a GC inside it, and v8.GCProfiler reports each GC's
// used_heap_size before and after, so
//   allocated = used(end) − used(start) + Σ over the window's GCs of (used before − used after).
// Exact for V8 heap objects up to one linear allocation buffer (a few KB per window, < 1 byte per call at 2,000
// calls; checked against known allocations: a 2-property object literal measures 40.0 B, a 4-element array 80.0 B,
// Node's 64-bit heap without pointer compression). Memory outside the V8 heap (ArrayBuffer backing stores, such as
// socket read buffers) is not counted.
import v8 from 'node:v8';

const hasAllocationCounter = typeof v8.getHeapStatistics().total_allocated_bytes === 'number';

export const allocationMethod = hasAllocationCounter
  ? 'v8.getHeapStatistics().total_allocated_bytes'
  : 'used_heap_size delta + bytes freed by each GC (v8.GCProfiler)';

const threadCpu = typeof process.threadCpuUsage === 'function' ? () => process.threadCpuUsage() : undefined;

export async function measureBatch(fn) {
  const profiler = new v8.GCProfiler();
  const before = v8.getHeapStatistics();
  profiler.start();
  const main0 = threadCpu?.();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await fn();
  const wallNs = process.hrtime.bigint() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const main = main0 && process.threadCpuUsage(main0);
  const { statistics } = profiler.stop();
  const after = v8.getHeapStatistics();
  let freed = 0;
  let gcPauseUs = 0;
  for (const gc of statistics) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
    gcPauseUs += gc.cost;
  }
  const allocated = hasAllocationCounter
    ? after.total_allocated_bytes - before.total_allocated_bytes
    : after.used_heap_size - before.used_heap_size + freed;
  const cpuUs = cpu.user + cpu.system;
  const mainUs = main ? main.user + main.system : cpuUs;
  return {
    cpuUs,
    systemUs: cpu.system,
    mutatorUs: Math.max(0, mainUs - gcPauseUs),
    wallUs: Number(wallNs) / 1000,
    allocatedBytes: allocated,
    gcCount: statistics.length,
    gcPauseUs,
  };
}
