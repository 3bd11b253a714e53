/** The HistoryStore suite on Postgres: one schema per test, dropped afterwards. */
import { describe } from 'vitest';
import { openHistoryStore } from '../src/store/index.js';
import { historyStorePagesSuite } from './history-store-pages-suite.js';
import { historyStoreSuite, type StoreHarness } from './history-store-suite.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const ready = await shouldRunPostgresTests('dashboard HistoryStore on Postgres');

function harness(): StoreHarness {
  const schema = testSchemaName();
  return {
    open: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
    reopen: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
}

describe.runIf(ready)('Postgres', () => {
  historyStoreSuite('postgres', harness);
  historyStorePagesSuite('postgres', harness);
});
