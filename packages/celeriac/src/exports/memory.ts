/**
 * The in-process broker and result backend (`memory://`), for apps of their own:
 * `createApp({}, { broker: new MemoryBroker(), backend: new MemoryBackend() })`.
 *
 * @module celeriac/memory
 */
export { MemoryBroker } from '../brokers/memory/memory-broker.js';
export { MemoryBackend } from '../backends/memory/memory-backend.js';
