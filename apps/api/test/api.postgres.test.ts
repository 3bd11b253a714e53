/** The API suite on a real Postgres: a database made for this run, dropped afterwards. */
import { describe } from 'vitest';
import { apiSuite } from './api-suite.js';
import { shouldRunPostgresTests } from './support/postgres.js';

const ready = await shouldRunPostgresTests('apps/api on Postgres');

describe.runIf(ready)('Postgres', () => {
  apiSuite('postgres');
});
