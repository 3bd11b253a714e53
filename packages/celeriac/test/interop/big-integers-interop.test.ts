/**
 * Python ints past 2**53 (Snowflake ids, `2**64`) between a Python Celery 5.2.6 producer and a
 * Celeriac worker: the TypeScript task receives them as bigint, exact, and its result carries
 * them back as JSON integers that Python reads as the same ints. (They used to arrive rounded:
 * `2**64` became 18446744073709552000.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('big integers interop');

const PY_SEND = `${PY_CLIENT}
snowflake = 1234567890123456789
r = app.send_task('big.echo', args=[2**64, snowflake, 7], kwargs={'neg': -(2**63) - 1}, queue=sys.argv[1])
try:
    v = r.get(timeout=30)
finally:
    r.forget()
print(json.dumps({
    'exact': v['args'] == [2**64, snowflake, 7] and v['next'] == 2**64 + 1 and v['neg'] == -(2**63) - 1,
    'types': v['types'],
    'repr': repr(v['args']),
}))
`;

describeOracles('integers past 2**53 between Python and a Celeriac worker', (oracle) => {
  const fleet = new MixedFleet('xbigint', 9, oracle);
  beforeAll(async () => {
    const app = fleet.app();
    app.task('big.echo', { params: ['a', 'b', 'c', 'neg'] }, (a: bigint, b: bigint, c: number, neg: bigint) => ({
      args: [a, b, c], next: a + 1n, neg, types: [typeof a, typeof b, typeof c, typeof neg],
    }) as never);
    await fleet.worker(app, { queues: ['xbigint-ts'], concurrency: 1, hostname: 'ts-xbigint@%h' });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('arrive as bigint, exact, and go back as the same Python ints', async () => {
    const out = JSON.parse(await runPython(fleet.py, PY_SEND, ['xbigint-ts'])) as { exact: boolean; types: string[]; repr: string };
    expect(out.types).toEqual(['bigint', 'bigint', 'number', 'bigint']);
    expect(out.repr).toBe('[18446744073709551616, 1234567890123456789, 7]');
    expect(out.exact).toBe(true);
  }, 90_000);
}, ready);
