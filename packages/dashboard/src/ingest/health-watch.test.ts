import { describe, expect, it } from 'vitest';
import { HealthWatch } from './health-watch.js';

describe('HealthWatch', () => {
  it('reports a part once when it starts failing and once when it works again, each part on its own', () => {
    const seen: [string, string | null][] = [];
    const watch = new HealthWatch((part, problem) => void seen.push([part, problem]));
    watch.look({ broker: null, db: null });
    expect(seen).toEqual([]);
    watch.look({ broker: 'ECONNREFUSED', db: null });
    // Failing again, or failing with another message, is no news.
    watch.look({ broker: 'ECONNREFUSED', db: null });
    watch.look({ broker: 'no answer within 5000 ms', db: 'the database is read-only' });
    watch.look({ broker: null, db: 'the database is read-only' });
    watch.look({ broker: null, db: null });
    expect(seen).toEqual([
      ['broker', 'ECONNREFUSED'],
      ['db', 'the database is read-only'],
      ['broker', null],
      ['db', null],
    ]);
  });
});
