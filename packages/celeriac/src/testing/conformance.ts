/**
 * @module testing/conformance
 * The conformance suites every broker and result backend runs (`celeriac/testing/conformance`).
 * They define vitest suites, so import them only from vitest test files: vitest is an optional
 * peer dependency of celeriac, needed only by this entry point.
 */
export { brokerConformance } from './broker-conformance.js';
export type { BrokerConformanceOptions } from './broker-conformance.js';
export { backendConformance } from './backend-conformance.js';
export type { BackendConformanceOptions } from './backend-conformance.js';
export { beatStoreConformance } from './beat-store-conformance.js';
export type { BeatStoreConformanceOptions, BeatStoreFixture } from './beat-store-conformance.js';
