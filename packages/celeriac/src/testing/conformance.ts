/**
 * @module testing/conformance
 * The conformance suites of the adapter SPIs (`celeriac/testing/conformance`), one per role:
 * an adapter runs the suites of the roles it plays (core/spi/broker.ts and core/spi/backend.ts
 * list them). They define vitest suites, so import them only from vitest test files: vitest
 * is an optional peer dependency of celeriac, needed only by this entry point.
 */
export { brokerConformance } from './broker-conformance.js';
export type { BrokerConformanceOptions } from './broker-conformance.js';
export { bindingsConformance, fanoutConformance } from './broker-fanout-conformance.js';
export { delayedListingConformance, setAsideListingConformance } from './broker-listing-conformance.js';
export { backendConformance } from './backend-conformance.js';
export type { BackendConformanceOptions } from './backend-conformance.js';
export { groupStoreConformance } from './group-store-conformance.js';
export { chordJoinConformance } from './chord-join-conformance.js';
export { revocationConformance } from './revocation-conformance.js';
export { rateTokenConformance } from './rate-token-conformance.js';
export { beatStoreConformance } from './beat-store-conformance.js';
export type { BeatStoreConformanceOptions, BeatStoreFixture } from './beat-store-conformance.js';
