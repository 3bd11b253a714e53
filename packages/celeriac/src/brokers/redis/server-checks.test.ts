import { describe, expect, it } from 'vitest';
import { serverConfigWarnings } from './server-checks.js';

const safe = { 'maxmemory-policy': 'noeviction', appendonly: 'yes', save: '' };

describe('serverConfigWarnings', () => {
  it('says nothing of a Redis that refuses writes at maxmemory and persists (AOF, RDB or both)', () => {
    expect(serverConfigWarnings(safe, 'r:6379')).toEqual([]);
    expect(serverConfigWarnings({ ...safe, appendonly: 'no', save: '3600 1 300 100 60 10000' }, 'r:6379')).toEqual([]);
  });

  it('warns of a policy that evicts, naming what it may evict', () => {
    const [all] = serverConfigWarnings({ ...safe, 'maxmemory-policy': 'allkeys-lru' }, 'r:6379');
    expect(all).toBe('broker Redis r:6379 has maxmemory-policy allkeys-lru: at maxmemory it evicts any key, queued messages included instead of refusing writes; set maxmemory-policy noeviction (docs/delivery-guarantees.md)');
    expect(serverConfigWarnings({ ...safe, 'maxmemory-policy': 'volatile-ttl' }, 'r:6379')[0]).toMatch(/evicts keys that have a TTL/);
  });

  it('warns of a Redis that saves nothing', () => {
    expect(serverConfigWarnings({ ...safe, appendonly: 'no', save: '' }, 'r:6379')).toEqual([
      'broker Redis r:6379 saves nothing (appendonly no, save ""): a restart of it loses every queued task; turn on appendonly yes (docs/delivery-guarantees.md)',
    ]);
  });

  it('says nothing of what it could not read', () => {
    expect(serverConfigWarnings({}, 'r:6379')).toEqual([]);
    expect(serverConfigWarnings({ appendonly: 'no' }, 'r:6379')).toEqual([]);
  });
});
