/** The threads pool's suite (pools-children-suite.ts), running tasks; children's lifecycle is in pools-threads-children.test.ts. */
import { vi } from 'vitest';
import { childPoolSuite } from './pools-children-suite.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

childPoolSuite('threads', 'tasks');
