/** The threads pool's suite (pools-children-suite.ts), in a file of its own so it runs beside the other pool's. */
import { childPoolSuite } from './pools-children-suite.js';

childPoolSuite('threads');
