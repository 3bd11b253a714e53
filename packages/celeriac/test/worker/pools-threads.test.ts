/** The threads pool's suite (pools-children-suite.ts), running tasks; children's lifecycle is in pools-threads-children.test.ts. */
import { childPoolSuite } from './pools-children-suite.js';

childPoolSuite('threads', 'tasks');
