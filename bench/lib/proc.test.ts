/** What bench/instructions.ts reads of `callgrind_control -e`. */
import { describe, expect, it } from 'vitest';
import { sumThreadCounts } from './proc.js';

describe('sumThreadCounts', () => {
  it("sums the threads of callgrind_control -e's totals", () => {
    // As valgrind 3.19 prints it for a node process.
    const text = ['PID 6831: node /tmp/vg2.js', '', '  Totals:         Ir ', '   Th 1  590,359,021 ', '   Th 2        3,345 ', '   Th 4    5,599,401 ', ''].join('\n');
    expect(sumThreadCounts(text)).toBe(590_359_021 + 3_345 + 5_599_401);
  });

  it('fails, quoting the text, when it has no thread counts', () => {
    expect(() => sumThreadCounts('Error: no running callgrind process with PID 42\n')).toThrow(/no thread counts[\s\S]*PID 42/);
  });
});
