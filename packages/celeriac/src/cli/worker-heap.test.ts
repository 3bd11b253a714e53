import { describe, expect, it } from 'vitest';
import { tuneWorkerHeap, WORKER_HEAP_GROWING_PERCENT } from './worker-heap.js';

describe('tuneWorkerHeap', () => {
  it('sets the old generation growth V8 uses between major GCs', () => {
    const set: string[] = [];
    expect(tuneWorkerHeap(['--enable-source-maps'], (f) => set.push(f))).toBe(true);
    expect(set).toEqual([`--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`]);
  });

  it("leaves a value given on node's command line alone, in either spelling", () => {
    const set: string[] = [];
    expect(tuneWorkerHeap(['--heap-growing-percent=80'], (f) => set.push(f))).toBe(false);
    expect(tuneWorkerHeap(['--heap_growing_percent', '80'], (f) => set.push(f))).toBe(false);
    expect(set).toEqual([]);
    // Not a prefix match: another flag that merely starts alike is not the user's choice.
    expect(tuneWorkerHeap(['--heap-growing-percentile=5'], (f) => set.push(f))).toBe(true);
  });
});
