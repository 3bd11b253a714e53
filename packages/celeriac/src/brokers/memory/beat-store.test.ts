import { FakeClock } from '../../testing/fake-clock.js';
import { beatStoreConformance } from '../../testing/beat-store-conformance.js';
import { MemoryBroker } from './memory-broker.js';

beatStoreConformance('memory', {
  async open() {
    const clock = new FakeClock();
    const broker = new MemoryBroker({ clock });
    return {
      broker,
      store: broker.beatStore(),
      pass: async (ms) => clock.advance(ms),
      close: () => broker.close(),
    };
  },
});
