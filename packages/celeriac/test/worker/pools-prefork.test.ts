/** The prefork pool's suite (pools-children-suite.ts), running tasks; children's lifecycle is in pools-prefork-children.test.ts. */
import { childPoolSuite } from './pools-children-suite.js';

childPoolSuite('prefork', 'tasks');
