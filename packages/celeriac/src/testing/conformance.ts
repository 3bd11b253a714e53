/**
 * @module testing/conformance
 * The conformance suites every broker and result backend runs (`celeriac/testing/conformance`).
 * They define vitest suites, so import them only from vitest test files.
 */
export { brokerConformance } from './broker-conformance.js';
export type { BrokerConformanceOptions } from './broker-conformance.js';
export { backendConformance } from './backend-conformance.js';
export type { BackendConformanceOptions } from './backend-conformance.js';
export { beatStoreConformance } from './beat-store-conformance.js';
export type { BeatStoreConformanceOptions, BeatStoreFixture } from './beat-store-conformance.js';
