import { describe, expect, it } from 'vitest';
import { cpuLogLine, procStatCpu } from './test-cpu.ts';

// A real line's shape (Linux 6.x, 52 fields), with a command name holding a space and a ')'.
const STAT = '4242 (node (vitest 1)) S 4200 4242 4200 0 -1 4194560 8125 1210 0 0 730 121 52 9 20 0 11 0 5312 1173725184 30521 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0';

describe('procStatCpu', () => {
  it('reads own (utime + stime) and reaped children (cutime + cstime) CPU, past a name with spaces and parentheses', () => {
    expect(procStatCpu(STAT)).toEqual({ ownMs: 8510, childrenMs: 610 });
  });

  it('refuses text that is not a stat line, naming it', () => {
    expect(() => procStatCpu('')).toThrow(/not a \/proc\/<pid>\/stat line/);
    expect(() => procStatCpu('4242 (node) S 1 2 3')).toThrow(/not a \/proc/);
    expect(() => procStatCpu(STAT.replace(' 730 ', ' x '))).toThrow(/not a \/proc/);
  });

  it('reads this process', async () => {
    const { readFileSync } = await import('node:fs');
    const cpu = procStatCpu(readFileSync('/proc/self/stat', 'utf8'));
    expect(cpu.ownMs).toBeGreaterThan(0);
    expect(cpu.childrenMs).toBeGreaterThanOrEqual(0);
  });
});

describe('cpuLogLine', () => {
  it('writes the differences, tab-separated, one line', () => {
    expect(cpuLogLine('a/b.test.ts', { ownMs: 100, childrenMs: 50 }, { ownMs: 350, childrenMs: 1050 }, 1234.6)).toBe('a/b.test.ts\t250\t1000\t1235\n');
  });
});
