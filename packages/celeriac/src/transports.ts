/**
 * @module transports
 * The edge that maps URL schemes to adapters (DESIGN §1: only edges choose adapters).
 * Libraries below receive adapters; `createApp` from the public index uses this table.
 */
import { MemoryBackend } from './backends/memory/memory-backend.js';
import { MemoryBroker } from './brokers/memory/memory-broker.js';
import type { TransportContext, TransportTable } from './core/transports.js';

/**
 * One memory broker and one memory backend per process, so that every app created with
 * `memory://` in this process shares them (a producer app and a worker app talk).
 */
let sharedBroker: MemoryBroker | undefined;
let sharedBackend: MemoryBackend | undefined;

/** The URL schemes Celeriac knows. */
export const defaultTransports: TransportTable = Object.freeze({
  brokers: Object.freeze({
    memory: (_url: string, ctx: TransportContext) => {
      if (sharedBroker === undefined || sharedBroker.state === 'closed') sharedBroker = new MemoryBroker({ clock: ctx.clock });
      return sharedBroker;
    },
  }),
  backends: Object.freeze({
    memory: (_url: string, ctx: TransportContext) => {
      if (sharedBackend === undefined || sharedBackend.state === 'closed') sharedBackend = new MemoryBackend({ clock: ctx.clock });
      return sharedBackend;
    },
  }),
});
