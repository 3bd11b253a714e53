import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type FileFacts, orderTestFiles, SLOW_FILES } from './test-order.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const fact = (project: string, file: string, more: Partial<FileFacts> = {}): FileFacts => ({
  project,
  isolated: project !== 'unit',
  file,
  durationMs: undefined,
  size: undefined,
  ...more,
});
const order = (files: FileFacts[], slow: Record<string, number> = {}) => orderTestFiles(files, (f) => f, slow).map((f) => `${f.project}:${f.file}`);

describe('orderTestFiles', () => {
  it('isolated projects first, each project together, unit files last', () => {
    const files = [fact('unit', 'u1'), fact('integration', 'i1'), fact('unit', 'u2'), fact('browser', 'b1'), fact('integration', 'i2')];
    expect(order(files)).toEqual(['browser:b1', 'integration:i1', 'integration:i2', 'unit:u1', 'unit:u2']);
  });

  it('on a fresh clone: the listed slow files, longest first, then the larger files', () => {
    const files = [
      fact('integration', 'small', { size: 100 }),
      fact('integration', 'slow-but-tiny', { size: 10 }),
      fact('integration', 'big', { size: 9000 }),
      fact('integration', 'slowest', { size: 50 }),
    ];
    expect(order(files, { slowest: 48.6, 'slow-but-tiny': 22.5 })).toEqual([
      'integration:slowest',
      'integration:slow-but-tiny',
      'integration:big',
      'integration:small',
    ]);
  });

  it("vitest's cached duration of the last run wins over the list", () => {
    const files = [fact('integration', 'listed', { durationMs: 2000 }), fact('integration', 'grew', { durationMs: 30_000 }), fact('integration', 'new')];
    expect(order(files, { listed: 40 })).toEqual(['integration:grew', 'integration:listed', 'integration:new']);
  });

  it('does not depend on the order the files come in', () => {
    const files = [
      fact('unit', 'a', { size: 5 }),
      fact('unit', 'b', { size: 5 }),
      fact('integration', 'c', { durationMs: 10 }),
      fact('integration', 'd', { size: 7 }),
      fact('integration', 'e'),
      fact('unit', 'f', { durationMs: 1 }),
    ];
    const expected = order(files, { e: 1 });
    expect(expected).toEqual(['integration:e', 'integration:c', 'integration:d', 'unit:f', 'unit:a', 'unit:b']);
    for (let shift = 1; shift < files.length; shift++) {
      expect(order([...files.slice(shift), ...files.slice(0, shift)], { e: 1 })).toEqual(expected);
      expect(order([...files].reverse(), { e: 1 })).toEqual(expected);
    }
  });

  it('an inherited name is not a listed file', () => {
    expect(order([fact('integration', 'constructor', { size: 1 }), fact('integration', 'x', { size: 2 })])).toEqual(['integration:x', 'integration:constructor']);
  });

  it('SLOW_FILES names files that exist (refresh it when they move)', () => {
    const missing = Object.keys(SLOW_FILES).filter((file) => !existsSync(`${ROOT}/${file}`));
    expect(missing).toEqual([]);
    expect(Object.values(SLOW_FILES).every((s) => Number.isFinite(s) && s > 0)).toBe(true);
  });
});
