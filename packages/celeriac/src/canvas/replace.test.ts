/**
 * `ctx.replace` pieces without a worker: the options that put a replacement in the replaced
 * task's place, how `replaced_task_nesting` is read, `celery.accumulate`, and the error when
 * an app has no canvas layer.
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../core/app.js';
import { buildTaskMessage } from '../core/producer.js';
import { replacedNesting } from '../core/replace-seam.js';
import { createTestApp } from '../testing/test-app.js';
import type { SignatureDict, TaskMessage } from '../protocol/types.js';
import { signature } from './primitives.js';
import { replacementOptions } from './replace.js';

const sig = (task: string): SignatureDict => signature(task).toDict();

function messageOf(app: App, options: Parameters<typeof buildTaskMessage>[4]): TaskMessage {
  return buildTaskMessage(app, 't.replaced', [1], {}, options).message;
}

describe('replacementOptions', () => {
  it("carries the task's id, root, group, chord, chain and links, with nesting + 1", () => {
    const { app } = createTestApp();
    const chord = sig('t.body');
    const chain = [sig('t.last'), sig('t.next')];
    const message = messageOf(app, { taskId: 'tid', rootId: 'root', groupId: 'gid', groupIndex: 2, chord, chain, link: sig('t.cb'), linkError: sig('t.eb') });
    const own = signature('t.new').link(sig('t.own_cb')).toDict();
    const options = replacementOptions(own, { message, isEager: false, nesting: 2 });
    expect(options).toMatchObject({ taskId: 'tid', rootId: 'root', groupId: 'gid', groupIndex: 2, chord, chain, replacedTaskNesting: 3 });
    // The replacement's own callbacks first, then the replaced task's, as Celery appends.
    expect(options.link).toEqual([sig('t.own_cb'), sig('t.cb')]);
    expect(options.linkError).toEqual([sig('t.eb')]);
  });

  it('leaves out what the task did not have', () => {
    const { app } = createTestApp();
    const options = replacementOptions(sig('t.new'), { message: messageOf(app, { taskId: 'tid' }), isEager: false, nesting: 0 });
    expect(options).toEqual({ taskId: 'tid', rootId: 'tid', replacedTaskNesting: 1 });
  });
});

describe('replaced_task_nesting', () => {
  it('is sent as a property after reply_to and read from the property or (Celery 5.3) a header', () => {
    const { app } = createTestApp();
    const message = messageOf(app, { replacedTaskNesting: 4 });
    expect(Object.keys(message.properties).slice(0, 3)).toEqual(['correlation_id', 'reply_to', 'replaced_task_nesting']);
    expect(replacedNesting(message)).toBe(4);
    expect(replacedNesting(messageOf(app, { headers: { replaced_task_nesting: 2 } }))).toBe(2);
    expect(replacedNesting(messageOf(app, {}))).toBe(0);
  });

  it('round-trips through a signature dict as Celery spells it', () => {
    expect(signature('t.x', [], {}, { replacedTaskNesting: 1 }).toDict().options).toEqual({ replaced_task_nesting: 1 });
  });
});

describe('celery.accumulate', () => {
  it('returns its arguments, or the one at index (Python indexing)', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    expect(await (await app.sendTask('celery.accumulate', [1, 2, 3])).get()).toEqual([1, 2, 3]);
    expect(await (await app.sendTask('celery.accumulate', [[4, 5]], { index: 0 })).get()).toEqual([4, 5]);
    expect(await (await app.sendTask('celery.accumulate', [[4, 5]], { index: -1 })).get()).toEqual([4, 5]);
    await expect((await app.sendTask('celery.accumulate', [[4, 5]], { index: 3 })).get()).rejects.toThrow(/out of range/);
  });
});
