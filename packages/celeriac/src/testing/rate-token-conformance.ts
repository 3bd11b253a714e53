/**
 * @module testing/rate-token-conformance
 * The conformance suite of the cluster-rate-token role of a result backend
 * (core/spi/rate-tokens.ts `RateTokenStore`, behind `clusterRateLimit`).
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { ResultStore } from '../core/spi/backend.js';
import type { RateTokenStore } from '../core/spi/rate-tokens.js';
import { defineBackendSuite, type BackendSuiteOptions } from './backend-harness.js';

/**
 * Defines a vitest `describe` block checking that reservations of one key are spaced one
 * interval apart, keys are independent, and a bad interval is refused.
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook and id prefix (used as rate keys).
 */
export function rateTokenConformance<B extends ResultStore & RateTokenStore>(name: string, makeBackend: () => Promise<B> | B, options: BackendSuiteOptions<B> = {}): void {
  defineBackendSuite(`RateTokenStore conformance: ${name}`, makeBackend, options, ({ backend, newId }) => {
    it('spaces cluster rate reservations one interval apart', async () => {
      const key = newId();
      const waits = [];
      for (let i = 0; i < 3; i++) waits.push(await backend().acquireRateToken(key, 10_000));
      expect(waits[0]).toBe(0);
      expect(waits[1]).toBeGreaterThan(9_000);
      expect(waits[1]).toBeLessThanOrEqual(10_000);
      expect(waits[2]).toBeGreaterThan(19_000);
      expect(waits[2]).toBeLessThanOrEqual(20_000);
      expect(await backend().acquireRateToken(newId(), 10_000)).toBe(0);
      await expect(backend().acquireRateToken(key, 0)).rejects.toThrow(/intervalMs/);
    });
  });
}
