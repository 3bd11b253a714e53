/**
 * `celeriac/testing`: helpers for testing applications built on Celeriac (an isolated app on
 * fresh memory adapters, a fake clock, a bounded wait for a condition). Free of any test
 * runner. The adapter conformance suites, which need vitest, live in
 * `celeriac/testing/conformance`.
 *
 * @module celeriac/testing
 */
export { FakeClock } from './fake-clock.js';
export { createTestApp } from './test-app.js';
export type { TestApp, TestAppOptions } from './test-app.js';
export { flush, sleep, waitFor } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
