/**
 * A Python Celery 5.2.6 caller's `time_limit=float('nan')` (or `inf`) is written by Python's
 * json as a bare `NaN` (`Infinity`), which JSON does not allow: the envelope cannot be decoded.
 * The Celeriac worker sets the message aside, never runs it, and stores FAILURE (kombu's
 * DecodeError, with the reason) under its id, so the Python caller's `get()` raises instead of
 * waiting forever. Before, nothing was stored and `get()` timed out.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from 'celeriac';
import { setAsideListingOf } from '../../src/core/spi/roles.js';
import { PY_CLIENT, runPython } from './python.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';

const ready = await mixedFleetReady('unreadable envelope interop');

describeOracles('an envelope Python Celery writes and JSON cannot read', (oracle) => {
  const fleet = new MixedFleet('unread', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;
  const ran: number[] = [];

  beforeAll(async () => {
    app = fleet.app();
    app.task('unread.add', (x: number, y: number) => {
      ran.push(x + y);
      return x + y;
    });
    await fleet.worker(app, { queues: ['unread'], concurrency: 1, hostname: 'ts-unread@%h' });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it("a Python caller's time_limit=nan/inf: get() raises DecodeError with the reason, the task never runs, the message is set aside", async () => {
    const out = await runPython(py, `${PY_CLIENT}
for limit in (float('nan'), float('inf')):
    r = app.send_task('unread.add', (1, 2), queue='unread', time_limit=limit)
    try:
        r.get(timeout=20)
        print(json.dumps([r.id, 'no error']))
    except Exception as e:
        print(json.dumps([r.id, type(e).__module__ + '.' + type(e).__name__, str(e)]))`, [], 90_000);
    const rows = out.trim().split('\n').map((l) => JSON.parse(l) as [string, string, string?]);
    taskIds.push(...rows.map((r) => r[0]));
    expect(rows).toHaveLength(2);
    for (const [, type, text] of rows) {
      expect(type).toBe('kombu.exceptions.DecodeError');
      expect(text).toMatch(/^message of task unread\.add could not be decoded: bad-json: /);
    }
    expect(ran).toEqual([]);
    const parked = (await setAsideListingOf(app.broker)!.setAsideMessages()).filter((r) => r.queue === 'unread');
    expect(parked.map((r) => r.category)).toEqual(['malformed', 'malformed']);
    expect(parked[0]?.raw).toContain('NaN');
    expect(parked[1]?.raw).toContain('Infinity');
  }, 120_000);
}, ready);
