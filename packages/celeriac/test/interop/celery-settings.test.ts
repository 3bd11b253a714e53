/**
 * fromCelery against every setting of real Celery (celery.app.defaults, read from each oracle's
 * own source): each name is one Celeriac maps or refuses with its reason, never "not a Celery
 * setting Celeriac knows"; each name set to Celery's own default carries over; and a whole
 * `app.conf` of defaults gives createApp settings it takes. A setting a new Celery adds fails
 * here until it is mapped or given its reason (core/celery-names.ts).
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, expect, it } from 'vitest';
import { createApp, fromCelery } from 'celeriac';
import { describeOracles, oracleEnv } from '../support/oracles.js';

const UNKNOWN = /not a Celery setting Celeriac knows/;

/** Celery's settings with their defaults, as JSON (tuples as lists, timedeltas in seconds, infinity marked). */
const DUMP = `
import json, datetime, math
from celery.app.defaults import NAMESPACES, flatten
def plain(v):
    if isinstance(v, tuple): return [plain(x) for x in v]
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    if isinstance(v, datetime.timedelta): return v.total_seconds()
    if isinstance(v, float) and math.isinf(v): return '__inf__'
    return v
print(json.dumps({name: plain(opt.default) for name, opt in flatten(NAMESPACES)}))
`;

describeOracles('fromCelery against celery.app.defaults', (oracle) => {
  let defaults: Record<string, unknown>;

  beforeAll(() => {
    const text = execFileSync('/usr/bin/python3', ['-c', DUMP], { env: { ...process.env, ...oracleEnv(oracle) }, encoding: 'utf8', timeout: 60_000 });
    defaults = JSON.parse(text, (_key, value: unknown) => (value === '__inf__' ? Number.POSITIVE_INFINITY : value)) as Record<string, unknown>;
    expect(Object.keys(defaults).length).toBeGreaterThan(150);
  });

  it('knows every setting: each is mapped, or refused with its reason', () => {
    const unknown: string[] = [];
    for (const name of Object.keys(defaults)) {
      try {
        fromCelery({ [name]: 'a value no setting takes: 7e0a6b' });
      } catch (err) {
        if (UNKNOWN.test((err as Error).message)) unknown.push(name);
      }
    }
    expect(unknown).toEqual([]);
  });

  it("takes each setting at Celery's default, and a whole app.conf of defaults that createApp takes", async () => {
    const refused = Object.entries(defaults).flatMap(([name, value]) => {
      try {
        fromCelery({ [name]: value });
        return [];
      } catch (err) {
        return [(err as Error).message];
      }
    });
    expect(refused).toEqual([]);
    const app = createApp({ ...fromCelery(defaults), broker: 'memory://', backend: 'memory://' }, { env: {} });
    expect(app.settings.timezone).toBe('UTC');
    expect(app.settings.taskDefaultQueue).toBe('celery');
    await app.close();
  });
});
