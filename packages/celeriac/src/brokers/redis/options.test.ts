import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { resolveRedisBrokerOptions } from './options.js';

describe('resolveRedisBrokerOptions', () => {
  it('fetches up to 100 messages per call unless told otherwise', () => {
    expect(resolveRedisBrokerOptions({}).fetchBatchSize).toBe(100);
    expect(resolveRedisBrokerOptions({ fetchBatchSize: 7 }).fetchBatchSize).toBe(7);
  });

  it('polls quietly every second after ten minutes, never more often than pollIntervalMs', () => {
    const o = resolveRedisBrokerOptions({});
    expect([o.pollIntervalMs, o.quietPollIntervalMs, o.quietAfterMs]).toEqual([50, 1000, 600_000]);
    expect(resolveRedisBrokerOptions({ pollIntervalMs: 2000 }).quietPollIntervalMs).toBe(2000);
    expect(resolveRedisBrokerOptions({ pollIntervalMs: 50, quietPollIntervalMs: 10 }).quietPollIntervalMs).toBe(50);
    expect(resolveRedisBrokerOptions({ quietPollIntervalMs: 5000, quietAfterMs: 1 }).quietPollIntervalMs).toBe(5000);
  });

  it.each([
    ['quietPollIntervalMs', 0],
    ['quietPollIntervalMs', Number.POSITIVE_INFINITY],
    ['quietAfterMs', -1],
    ['quietAfterMs', '60000'],
  ] as const)('refuses %s %s with a CONFIG error naming it', (name, bad) => {
    expect(() => resolveRedisBrokerOptions({ [name]: bad as number })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining(`${name} must be a positive number`) }),
    );
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses fetchBatchSize %s with a CONFIG error naming it', (bad) => {
    expect(() => resolveRedisBrokerOptions({ fetchBatchSize: bad })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('fetchBatchSize must be a positive integer') }),
    );
  });

  it('waits for no replica unless told to, then for as many as asked, a second at most by default', () => {
    expect([resolveRedisBrokerOptions({}).waitReplicas, resolveRedisBrokerOptions({ waitReplicas: 0 }).waitReplicas]).toEqual([0, 0]);
    const o = resolveRedisBrokerOptions({ waitReplicas: 2 });
    expect([o.waitReplicas, o.waitReplicasTimeoutMs]).toEqual([2, 1000]);
    expect(resolveRedisBrokerOptions({ waitReplicas: 1, waitReplicasTimeoutMs: 250 }).waitReplicasTimeoutMs).toBe(250);
  });

  it('refuses a waitReplicasTimeoutMs that is not a second below commandTimeoutMs, naming both, unless nothing waits', () => {
    expect(() => resolveRedisBrokerOptions({ waitReplicas: 1, waitReplicasTimeoutMs: 3000, commandTimeoutMs: 2000 })).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG,
        message: expect.stringMatching(/^RedisBroker: waitReplicasTimeoutMs \(3000\) must be at least 1000 ms below commandTimeoutMs \(2000\)/),
      }),
    );
    expect(() => resolveRedisBrokerOptions({ waitReplicas: 1, commandTimeoutMs: 1500 })).toThrow(expect.objectContaining({ message: expect.stringContaining('(1000) must be') }));
    expect(resolveRedisBrokerOptions({ waitReplicas: 1, waitReplicasTimeoutMs: 1000, commandTimeoutMs: 2000 }).waitReplicasTimeoutMs).toBe(1000);
    expect(resolveRedisBrokerOptions({ waitReplicas: 0, waitReplicasTimeoutMs: 3000, commandTimeoutMs: 2000 }).waitReplicas).toBe(0);
  });

  it.each([
    ['waitReplicas', -1],
    ['waitReplicas', 1.5],
    ['waitReplicas', '1'],
    ['waitReplicasTimeoutMs', 0],
    ['waitReplicasTimeoutMs', 2.5],
  ] as const)('refuses %s %s with a CONFIG error naming it', (name, bad) => {
    expect(() => resolveRedisBrokerOptions({ waitReplicas: 1, [name]: bad as number })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining(name) }),
    );
  });
});
