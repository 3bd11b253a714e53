import { describe, expect, it } from 'vitest';
import { createApp } from '../create-app.js';
import { failUnreadable, unreadableIdentity } from './unreadable.js';

/** What Python Celery 5.2.6 writes for `send_task('proj.add', (1, 2), time_limit=float('nan'))`, shortened. */
const PY_NAN = '{"body": "W1sxLCAyXSwge30sIHt9XQ==", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "proj.add", "id": "6f1c-77", "shadow": null, "argsrepr": "(1, 2)", "timelimit": [NaN, null], "root_id": "6f1c-77"}, "properties": {"correlation_id": "6f1c-77", "reply_to": "a1b2-c3", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "t1"}}';

describe('undecodable messages', () => {
  it('reads the id, task and reply address of an envelope JSON cannot parse', () => {
    expect(unreadableIdentity({ raw: PY_NAN })).toEqual({ id: '6f1c-77', task: 'proj.add', replyTo: 'a1b2-c3' });
  });

  it('does not take an id written inside another string, and gives up without both id and task', () => {
    expect(unreadableIdentity({ raw: '{"headers": {"argsrepr": "{\\"id\\": \\"fake\\"}", "task": "t"}}' })).toBeNull();
    expect(unreadableIdentity({ raw: '{"headers": {"id": "x"}' })).toBeNull();
    expect(unreadableIdentity({ raw: 'garbage \u0000' })).toBeNull();
    expect(unreadableIdentity({ raw: `{"task": "t", "id": "${'x'.repeat(300)}"}` })).toBeNull();
  });

  it("reads the identity from the decoded headers when the envelope cannot be written (RabbitMQ's, headers past the depth limit)", async () => {
    const deep = Object.defineProperty({ decoded: { headers: { id: 'deep-1', task: 'proj.add' }, properties: { reply_to: 'r-1' } } }, 'raw', {
      get() {
        throw new Error('Cannot serialize a value nested deeper than 1000 levels');
      },
    }) as unknown as Parameters<typeof unreadableIdentity>[0];
    expect(unreadableIdentity(deep)).toEqual({ id: 'deep-1', task: 'proj.add', replyTo: 'r-1' });
    // An id past the limit is why such a message was refused: no FAILURE is stored under it.
    const huge = { raw: '{}', decoded: { headers: { id: 'x'.repeat(10_000_000), task: 'proj.add' }, properties: {} } } as unknown as Parameters<typeof unreadableIdentity>[0];
    expect(unreadableIdentity(huge)).toBeNull();
    const app = createApp({}, { env: {} });
    expect(await failUnreadable(app, deep, 'bad-header: argsrepr is not a string or null')).toBe('deep-1');
    expect(await app.backend.get('deep-1')).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DecodeError' } });
    await app.close();
  });

  it('stores FAILURE DecodeError with the reason, and never over a SUCCESS', async () => {
    const app = createApp({}, { env: {} });
    expect(await failUnreadable(app, { raw: PY_NAN }, 'bad-json: Unexpected token N')).toBe('6f1c-77');
    expect(await app.backend.get('6f1c-77')).toMatchObject({
      status: 'FAILURE', task_id: '6f1c-77',
      result: { exc_type: 'DecodeError', exc_module: 'kombu.exceptions', exc_message: ['message of task proj.add could not be decoded: bad-json: Unexpected token N'] },
    });
    await app.backend.store({ status: 'SUCCESS', result: 3, traceback: null, children: [], date_done: '2026-01-01T00:00:00', task_id: 'done-1' }, { expiresSec: null });
    await failUnreadable(app, { raw: PY_NAN.replaceAll('6f1c-77', 'done-1') }, 'bad-json');
    expect(await app.backend.get('done-1')).toMatchObject({ status: 'SUCCESS', result: 3 });
    expect(await failUnreadable(app, { raw: 'nope' }, 'bad-json')).toBeNull();
    await app.close();
  });
});
