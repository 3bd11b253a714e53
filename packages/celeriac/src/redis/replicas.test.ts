import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { RedisBackend } from '../backends/redis/redis-backend.js';
import { replicaWarning, resolveReplicaWait } from './replicas.js';

describe('replicaWarning', () => {
  const info = (connected: number) => `# Replication\r\nrole:master\r\nconnected_slaves:${connected}\r\nmaster_repl_offset:42\r\n`;
  const wait = (waitReplicas: number, waitReplicasTimeoutMs = 1000) => ({ waitReplicas, waitReplicasTimeoutMs });

  it('warns when fewer replicas are connected than sends wait for', () => {
    expect(replicaWarning(info(0), wait(1), 'broker', 'r:6379')).toBe(
      'broker Redis r:6379 has 0 replicas connected, and waitReplicas asks for 1: every send waits 1000 ms for them and fails (brokerTransportOptions; docs/brokers-and-backends.md)',
    );
    expect(replicaWarning(info(1), wait(2, 250), 'broker', 'r:6379')).toMatch(/has 1 replica connected, and waitReplicas asks for 2: every send waits 250 ms/);
  });

  it('says what waits for the result backend: its task states, stored again', () => {
    expect(replicaWarning(info(1), wait(2, 300), 'result backend', 'r:6380')).toBe(
      'result backend Redis r:6380 has 1 replica connected, and waitReplicas asks for 2: every task state waits 300 ms for them, fails and is stored again (resultBackendTransportOptions; docs/brokers-and-backends.md)',
    );
  });

  it('says nothing with enough replicas, with waitReplicas off, or when INFO does not say', () => {
    expect(replicaWarning(info(2), wait(2), 'broker', 'r:6379')).toBeNull();
    expect(replicaWarning(info(0), wait(0), 'result backend', 'r:6379')).toBeNull();
    expect(replicaWarning('', wait(1), 'broker', 'r:6379')).toBeNull();
  });
});

describe('resolveReplicaWait', () => {
  it('takes a timeout at least a second below the command timeout, and any while nothing waits', () => {
    expect(resolveReplicaWait('X', { waitReplicas: 2, waitReplicasTimeoutMs: 29_000 }, 30_000)).toEqual({ waitReplicas: 2, waitReplicasTimeoutMs: 29_000 });
    expect(resolveReplicaWait('X', {}, 500)).toEqual({ waitReplicas: 0, waitReplicasTimeoutMs: 1000 });
  });

  it('refuses a timeout the command timeout would cut short, naming the owner and both values', () => {
    expect(() => resolveReplicaWait('RedisBackend', { waitReplicas: 1, waitReplicasTimeoutMs: 29_001 }, 30_000)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG,
        message: expect.stringMatching(/^RedisBackend: waitReplicasTimeoutMs \(29001\) must be at least 1000 ms below commandTimeoutMs \(30000\).*lower waitReplicasTimeoutMs or raise commandTimeoutMs$/),
      }),
    );
  });

  it("is the Redis result backend's check too, against its own commandTimeoutMs", () => {
    expect(() => new RedisBackend({ url: 'redis://127.0.0.1:1/0', waitReplicas: 1, waitReplicasTimeoutMs: 60_000 })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('commandTimeoutMs (30000)') }));
    expect(new RedisBackend({ url: 'redis://127.0.0.1:1/0', waitReplicas: 1, waitReplicasTimeoutMs: 60_000, commandTimeoutMs: 61_000 }).kind).toBe('redis');
  });
});
