import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { decodeControlReply, encodeControlRequest, replyQueueName } from './pidbox.js';

// Captured from `celery inspect ping` and a Python 5.2.6 worker's reply (redis-cli MONITOR).
const PY_REQUEST =
  '{"body": "eyJtZXRob2QiOiAicGluZyIsICJhcmd1bWVudHMiOiB7fSwgImRlc3RpbmF0aW9uIjogbnVsbCwgInBhdHRlcm4iOiBudWxsLCAibWF0Y2hlciI6IG51bGwsICJ0aWNrZXQiOiAiZGRlMzljODMtYWUyZC00ZDlkLThjN2EtZDdiMjc0NTU2ZTBjIiwgInJlcGx5X3RvIjogeyJleGNoYW5nZSI6ICJyZXBseS5jZWxlcnkucGlkYm94IiwgInJvdXRpbmdfa2V5IjogIjY4MWRmMTQxLTJhNmYtMzEwMy1hODFhLTBmOGZmNWYxNDIyNCJ9fQ==", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"clock": 1, "expires": 1795276455.295716}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}, "priority": 0, "body_encoding": "base64", "delivery_tag": "9340d70f-a66e-43a9-9b99-93d40d6cadd9"}}';
const PY_REPLY =
  '{"body": "eyJweW02QHZtIjogeyJvayI6ICJwb25nIn19", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"ticket": "dde39c83-ae2d-4d9d-8c7a-d7b274556e0c", "clock": 56}, "properties": {"delivery_mode": 1, "delivery_info": {"exchange": "reply.celery.pidbox", "routing_key": "681df141-2a6f-3103-a81a-0f8ff5f14224"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "f0ff6fc7-f04a-4f83-aad5-5c47e58ed8e2"}}';

describe('pidbox client messages against bytes captured from Celery 5.2.6', () => {
  it('encodes a request byte for byte as kombu does', () => {
    const raw = encodeControlRequest(
      {
        method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null,
        ticket: 'dde39c83-ae2d-4d9d-8c7a-d7b274556e0c', reply_to: { exchange: 'reply.celery.pidbox', routing_key: '681df141-2a6f-3103-a81a-0f8ff5f14224' },
      },
      { clock: 1, expires: 1795276455.295716, deliveryTag: '9340d70f-a66e-43a9-9b99-93d40d6cadd9' },
    );
    expect(raw).toBe(PY_REQUEST);
  });

  it('decodes a Python worker reply', () => {
    expect(decodeControlReply(PY_REPLY)).toEqual({ ticket: 'dde39c83-ae2d-4d9d-8c7a-d7b274556e0c', clock: 56, body: { 'pym6@vm': { ok: 'pong' } } });
  });

  it('rejects a reply whose body is not an object', () => {
    const raw = PY_REPLY.replace('eyJweW02QHZtIjogeyJvayI6ICJwb25nIn19', Buffer.from('[1]').toString('base64'));
    expect(() => decodeControlReply(raw)).toThrow(ProtocolError);
    expect(() => decodeControlReply('nope')).toThrow(ProtocolError);
  });

  it('names the reply queue as kombu does', () => {
    expect(replyQueueName('681df141')).toBe('681df141.reply.celery.pidbox');
  });
});
