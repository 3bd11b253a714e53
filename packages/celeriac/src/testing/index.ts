/**
 * @module testing
 * `celeriac/testing`: helpers for testing applications built on Celeriac (an isolated app on
 * fresh memory adapters, a fake clock). Free of any test runner. The adapter conformance
 * suites, which need vitest, live in `celeriac/testing/conformance`.
 */
export { FakeClock } from './fake-clock.js';
export { createTestApp } from './test-app.js';
export type { TestApp, TestAppOptions } from './test-app.js';
