/** The prefork pool's suite (pools-children-suite.ts), children ended, replaced and resized; running tasks is in pools-prefork.test.ts. */
import { vi } from 'vitest';
import { childPoolSuite } from './pools-children-suite.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

childPoolSuite('prefork', 'children');
