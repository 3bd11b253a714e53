import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { createRedisClient, isPermanentConnectError, reconnectDelay, toTransportError } from './client.js';
import { parseRedisUrl } from './url.js';

describe('reconnectDelay', () => {
  it('doubles from 50 ms to a 2 s cap, with half of each delay random', () => {
    const low = () => 0;
    const high = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5, 6, 20, 1000].map((n) => reconnectDelay(n, low))).toEqual([25, 50, 100, 200, 400, 800, 1000, 1000, 1000]);
    expect([0, 1, 5, 6, 1000].map((n) => reconnectDelay(n, high))).toEqual([50, 100, 1600, 2000, 2000]);
  });
});

describe('toTransportError', () => {
  it('names the operation and the Redis error, and keeps the cause', () => {
    const cause = new Error('READONLY You can\'t write against a read only replica.');
    const err = toTransportError(cause, 'store result of task t1');
    expect(err).toBeInstanceOf(CeleriacError);
    expect(err.code).toBe(ErrorCodes.TRANSPORT);
    expect(err.message).toBe("Redis error during store result of task t1: READONLY You can't write against a read only replica.");
    expect(err.cause).toBe(cause);
  });

  it('accepts non-errors and passes TRANSPORT errors through', () => {
    expect(toTransportError('boom', 'get').message).toBe('Redis error during get: boom');
    const transport = new CeleriacError(ErrorCodes.TRANSPORT, 'already wrapped');
    expect(toTransportError(transport, 'get')).toBe(transport);
  });
});

describe('createRedisClient', () => {
  it('builds node-redis\'s per-command client class once, however many clients are made', () => {
    const target = parseRedisUrl('redis://127.0.0.1:1/0');
    const [a, b] = ['one', 'two'].map((name) => createRedisClient(target, { name }));
    // node-redis clients are Object.create(new Client(options)): two hops up is the class.
    const classOf = (c: object): unknown => Object.getPrototypeOf(Object.getPrototypeOf(c));
    expect(classOf(a as object)).toBe(classOf(b as object));
    expect(typeof (a as unknown as { hSet: unknown }).hSet).toBe('function');
    expect(a).not.toBe(b);
  });
});

describe('isPermanentConnectError', () => {
  it('is true for credential, permission and certificate failures only', () => {
    expect(isPermanentConnectError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(true);
    expect(isPermanentConnectError(new Error('NOAUTH Authentication required.'))).toBe(true);
    expect(isPermanentConnectError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe(true);
    expect(isPermanentConnectError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isPermanentConnectError(new Error('LOADING Redis is loading the dataset in memory'))).toBe(false);
  });
});
