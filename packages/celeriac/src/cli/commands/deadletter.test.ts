import { describe, expect, it } from 'vitest';
import { taskOf } from './deadletter.js';

/** A kombu envelope of a message from task `name` with id `id`, its body as given. */
const envelope = (contentType: string, body: string) =>
  JSON.stringify({
    body,
    'content-encoding': 'binary',
    'content-type': contentType,
    headers: { lang: 'py', task: 'proj.add', id: 'f00d-1', argsrepr: '(1, 2)' },
    properties: { correlation_id: 'f00d-1', reply_to: 'r', delivery_mode: 2, delivery_info: { exchange: '', routing_key: 'celery' }, priority: 0, body_encoding: 'base64', delivery_tag: 't' },
  });

describe('deadletter: what a set-aside record names', () => {
  it('the task and id of a JSON message, with its arguments', () => {
    const json = envelope('application/json', Buffer.from('[[1, 2], {}, {}]').toString('base64'));
    expect(taskOf(json)).toEqual({ task: 'proj.add', taskId: 'f00d-1', args: [1, 2], kwargs: {} });
  });

  it('the task and id of a message whose body cannot be decoded (pickle, bad base64), which the worker set aside', () => {
    // Python's pickle of ((1, 2), {}, {}): bytes that are not UTF-8.
    const pickle = envelope('application/x-python-serialize', Buffer.from([0x80, 0x04, 0x95, 0xff, 0x00, 0x2e]).toString('base64'));
    expect(taskOf(pickle)).toEqual({ task: 'proj.add', taskId: 'f00d-1', args: null, kwargs: null });
    expect(taskOf(envelope('application/json', '!!not base64!!'))).toMatchObject({ task: 'proj.add', taskId: 'f00d-1' });
    expect(taskOf('garbage')).toEqual({ task: null, taskId: null, args: null, kwargs: null });
  });
});
