import { describe, expect, it } from 'vitest';
import { readFloorOutput } from './floor.js';

describe('readFloorOutput', () => {
  it('takes the result line of a floor that ran through', () => {
    const line = 'Layout floor: 2,000 tasks in 0.13 s = 15,787 tasks/s, 30.6 us CPU per task in the loop process and 15.8 us in Redis (8 loops, batches of 100)';
    expect(readFloorOutput(`${line}\n`, '', null)).toEqual({ ok: true, line });
  });

  it('fails with the first error line, even when a result line was printed before the process failed', () => {
    const stderr = 'SimpleError [ReplyError]: ERR user_script:36: attempt to perform arithmetic on local \'r\' (a nil value)\n    at ...\n';
    expect(readFloorOutput('', stderr, new Error('Command failed'))).toEqual({ ok: false, why: "SimpleError [ReplyError]: ERR user_script:36: attempt to perform arithmetic on local 'r' (a nil value)" });
    expect(readFloorOutput('Layout floor: 1 task\n', 'Error: the layout floor did not do its work: 3 results missing', new Error('exit 1'))).toMatchObject({ ok: false, why: 'Error: the layout floor did not do its work: 3 results missing' });
    expect(readFloorOutput('', '', new Error('spawn node ENOENT\nmore'))).toEqual({ ok: false, why: 'spawn node ENOENT' });
    expect(readFloorOutput('', '', null)).toEqual({ ok: false, why: 'no result line' });
  });
});
