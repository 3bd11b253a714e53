/** The threads pool's suite (pools-children-suite.ts), children ended, replaced and resized; running tasks is in pools-threads.test.ts. */
import { childPoolSuite } from './pools-children-suite.js';

childPoolSuite('threads', 'children');
