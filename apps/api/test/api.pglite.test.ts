/** The API suite on the embedded PGlite database (what `npm start` uses). */
import { apiSuite } from './api-suite.js';

apiSuite('pglite');
