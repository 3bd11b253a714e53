import { describe, expect, it } from 'vitest';
import { parseUmask } from './deploy-flags.js';

describe('parseUmask', () => {
  it('reads a mask as Celery does: octal when it starts with 0, else decimal', () => {
    expect(parseUmask('022')).toBe(0o22);
    expect(parseUmask('0o027')).toBe(0o27);
    expect(parseUmask('0')).toBe(0);
    expect(parseUmask('18')).toBe(18);
    expect(parseUmask('0777')).toBe(0o777);
  });

  it('refuses what is not a mask, naming it', () => {
    for (const bad of ['0999', 'rwx', '', '-1', '1000', '0o1000', '22.5']) {
      expect(() => parseUmask(bad), bad).toThrow(`--umask must be a mask from 0 to 0777 (octal when it starts with 0, else decimal, as Celery), got ${JSON.stringify(bad)}`);
    }
  });
});
