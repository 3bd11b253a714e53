import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { resolveRedisBrokerOptions } from './options.js';

describe('resolveRedisBrokerOptions', () => {
  it('fetches up to 100 messages per call unless told otherwise', () => {
    expect(resolveRedisBrokerOptions({}).fetchBatchSize).toBe(100);
    expect(resolveRedisBrokerOptions({ fetchBatchSize: 7 }).fetchBatchSize).toBe(7);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses fetchBatchSize %s with a CONFIG error naming it', (bad) => {
    expect(() => resolveRedisBrokerOptions({ fetchBatchSize: bad })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('fetchBatchSize must be a positive integer') }),
    );
  });
});
