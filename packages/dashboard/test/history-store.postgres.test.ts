/** The HistoryStore suite on Postgres: one schema per test, dropped afterwards. */
import { describe } from 'vitest';
import { openHistoryStore } from '../src/store/index.js';
import { historyStoreSuite } from './history-store-suite.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const ready = await shouldRunPostgresTests('dashboard HistoryStore on Postgres');

describe.runIf(ready)('Postgres', () => {
  historyStoreSuite('postgres', () => {
    const schema = testSchemaName();
    return {
      open: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
      reopen: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
      cleanup: () => dropSchema(schema),
    };
  });
});
