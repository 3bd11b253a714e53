/**
 * @module core/spi/rate-tokens
 * The RateTokens role of a result backend: reservations that space the runs of a task
 * across the whole cluster (`clusterRateLimit`, Celeriac only). A backend without it cannot
 * enforce such a limit, so a worker refuses to start with a task that has one (CONFIG error,
 * worker/rate-limit.ts). Conformance: testing/rate-token-conformance.ts.
 */

/** The RateTokens role. */
export interface RateTokenStore {
  /**
   * Reserves the next run of a cluster-wide rate limit: runs of `key` are spaced at least
   * `intervalMs` apart across every caller. Resolves with the milliseconds the caller must
   * wait before running (0 = now). A non-positive or non-finite `intervalMs` rejects with
   * INVALID_ARGUMENT.
   */
  acquireRateToken(key: string, intervalMs: number): Promise<number>;
}
