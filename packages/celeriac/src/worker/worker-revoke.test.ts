/** revokeInWorker says a revoke once, though it reaches a worker up to three times (control command, store notices). */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import { RevokedSet } from './revoked.js';
import { revokeInWorker } from './worker-revoke.js';

describe('revokeInWorker', () => {
  it('logs a revoke once, and a later terminate of a running id once more', async () => {
    const { app } = createTestApp();
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg), done()) }));
    const running = new Set(['b']);
    const ctx = { app, set: new RevokedSet(app.clock), log, terminate: (ids: ReadonlySet<string>) => [...ids].filter((id) => running.delete(id)) };
    for (let i = 0; i < 3; i++) await revokeInWorker(ctx, ['a'], { persist: false });
    expect(lines).toEqual(['revoked 1 task(s)']);
    await revokeInWorker(ctx, ['a', 'b'], { terminate: true, persist: false });
    await revokeInWorker(ctx, ['a', 'b'], { terminate: true, persist: false });
    expect(lines).toEqual(['revoked 1 task(s)', 'revoked 1 task(s), terminated 1']);
    expect(ctx.set.ids()).toEqual(['a', 'b']);
  });
});
