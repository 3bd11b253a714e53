/** The prefork pool's suite (pools-children-suite.ts), children ended, replaced and resized; running tasks is in pools-prefork.test.ts. */
import { childPoolSuite } from './pools-children-suite.js';

childPoolSuite('prefork', 'children');
