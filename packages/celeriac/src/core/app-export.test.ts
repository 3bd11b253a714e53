import { describe, expect, it } from 'vitest';
import { isAppAttr, pickExport, splitAppSpec } from './app-export.js';

describe('-A module:attr', () => {
  it('splits at the last colon when a name follows it', () => {
    expect(splitAppSpec('./src/app.ts:celery')).toEqual({ module: './src/app.ts', attr: 'celery' });
    expect(splitAppSpec('proj/app:tasks.app')).toEqual({ module: 'proj/app', attr: 'tasks.app' });
    expect(splitAppSpec('./src/app.ts')).toEqual({ module: './src/app.ts', attr: null });
  });

  it('keeps drives, URLs and odd suffixes whole', () => {
    expect(splitAppSpec('C:\\proj\\app.ts')).toEqual({ module: 'C:\\proj\\app.ts', attr: null });
    expect(splitAppSpec('file:///proj/app.ts')).toEqual({ module: 'file:///proj/app.ts', attr: null });
    expect(splitAppSpec('app.ts:1x')).toEqual({ module: 'app.ts:1x', attr: null });
    expect(splitAppSpec(':app')).toEqual({ module: ':app', attr: null });
    expect(isAppAttr('a..b')).toBe(false);
  });

  it('follows a dotted path through own properties only', () => {
    const app = {};
    const mod = { nested: { app }, plain: 1 };
    expect(pickExport(mod, 'nested.app')).toBe(app);
    expect(pickExport(mod, 'nested.missing')).toBeUndefined();
    expect(pickExport(mod, 'plain.x')).toBeUndefined();
    expect(pickExport(mod, 'nested.constructor')).toBeUndefined();
  });
});
