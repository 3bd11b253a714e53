import { describe, expect, it } from 'vitest';
import { closedSentinelClient, isSentinelPrint, openedSentinelClient, QUIET_MS, routeSentinelPrint } from './sentinel-console.js';

/** An Error as node-redis's Sentinel connect loop prints it (its stack through the sentinel module). */
function sentinelError(message: string): Error {
  const err = new Error(message);
  err.stack = `Error: ${message}\n    at RedisSentinelInternal.observe (/app/node_modules/@redis/client/dist/lib/sentinel/index.js:808:15)`;
  return err;
}

describe('sentinel-console', () => {
  it('knows node-redis\'s Sentinel prints from everything else', () => {
    expect(isSentinelPrint([sentinelError('None of the sentinels are available')])).toBe(true);
    expect(isSentinelPrint(['throwing READONLY error'])).toBe(true);
    expect(isSentinelPrint([new Error('mine')])).toBe(false);
    expect(isSentinelPrint([sentinelError('x'), 'more'])).toBe(false);
    expect(isSentinelPrint(['hello'])).toBe(false);
  });

  it('logs one outage once through an open client, again when it changes or after a quiet spell, and never prints it', () => {
    const lines: string[] = [];
    const client = {};
    openedSentinelClient(client, (level, msg, fields) => lines.push(`${level} ${msg} ${String(fields?.['sentinels'])}`), { sentinels: 's1:26379' });
    try {
      const t = 1_000_000;
      expect(routeSentinelPrint([sentinelError('None of the sentinels are available')], t)).toBe(true);
      expect(routeSentinelPrint([sentinelError('None of the sentinels are available')], t + 1000)).toBe(true);
      expect(routeSentinelPrint([sentinelError('None of the sentinels are available')], t + 2000)).toBe(true);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^warn redis sentinel: None of the sentinels are available; .* s1:26379$/);
      expect(routeSentinelPrint([sentinelError('no valid master')], t + 3000)).toBe(true);
      expect(lines).toHaveLength(2);
      // The same message after a quiet spell: a new outage.
      expect(routeSentinelPrint([sentinelError('no valid master')], t + 3000 + QUIET_MS)).toBe(true);
      expect(lines).toHaveLength(3);
      // The READONLY line and other prints: dropped, and passed on.
      expect(routeSentinelPrint(['throwing READONLY error'], t + 4000 + QUIET_MS)).toBe(true);
      expect(routeSentinelPrint(['an app line'], t + 4000 + QUIET_MS)).toBe(false);
      expect(lines).toHaveLength(3);
    } finally {
      closedSentinelClient(client);
    }
    // With every client closed, a late print is dropped unlogged.
    expect(routeSentinelPrint([sentinelError('None of the sentinels are available')], 5_000_000)).toBe(true);
    expect(lines).toHaveLength(3);
  });
});
