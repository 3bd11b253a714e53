import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { buildControlReply, decodeControlReply, decodeControlRequest, encodeControlRequest, isAddressedTo, mailboxQueueName, replyQueueName, type ControlRequest } from './pidbox.js';
import { ProtocolError } from './errors.js';

/** The captured request body of `celery inspect ping` (docs/protocol.md §5.2), in a kombu envelope. */
function pythonRequest(body: string, clock = 7): string {
  const b64 = Buffer.from(body).toString('base64');
  return `{"body": "${b64}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"clock": ${clock}, "expires": 1795269950.5}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}, "priority": 0, "body_encoding": "base64", "delivery_tag": "d1"}}`;
}

const req = (over: Partial<ControlRequest>): ControlRequest => ({ method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null, ...over });

describe('pidbox', () => {
  it('decodes the captured ping request with its clock', () => {
    const raw = pythonRequest('{"method": "ping", "arguments": {}, "destination": null, "pattern": null, "matcher": null, "ticket": "b3bb6597-b167-4cc7-9b66-021a8a2ad803", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "ceff5e62-80db-3e0b-b101-4747535eac5b"}}');
    expect(decodeControlRequest(raw)).toEqual({
      clock: 7,
      request: {
        method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null,
        ticket: 'b3bb6597-b167-4cc7-9b66-021a8a2ad803',
        reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'ceff5e62-80db-3e0b-b101-4747535eac5b' },
      },
    });
  });

  it('decodes a cast (no ticket, no reply_to) and refuses malformed bodies', () => {
    const cast = decodeControlRequest(pythonRequest('{"method": "revoke", "arguments": {"task_id": "x"}, "destination": ["a@h"], "pattern": null, "matcher": null}'));
    expect(cast.request).toEqual(req({ method: 'revoke', arguments: { task_id: 'x' }, destination: ['a@h'] }));
    expect(() => decodeControlRequest(pythonRequest('{"arguments": {}}'))).toThrow(ProtocolError);
    expect(() => decodeControlRequest(pythonRequest('{"method": "x", "arguments": []}'))).toThrow(ProtocolError);
    expect(() => decodeControlRequest(pythonRequest('{"method": "x", "destination": "a@h"}'))).toThrow(ProtocolError);
  });

  it('addresses by destination, then by pattern + matcher, else everyone', () => {
    expect(isAddressedTo(req({}), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ destination: [] }), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ destination: ['w1@h'] }), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ destination: ['w2@h'], pattern: '*', matcher: 'glob' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: 'w*@h', matcher: 'glob' }), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ pattern: 'w?@[gh]', matcher: 'glob' }), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ pattern: 'w[!1]@h', matcher: 'glob' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: 'w1', matcher: 'glob' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: 'w\\d', matcher: 'pcre' }), 'w1@h')).toBe(true);
    expect(isAddressedTo(req({ pattern: '1@h', matcher: 'pcre' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: '(', matcher: 'pcre' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: 'w*', matcher: 'other' }), 'w1@h')).toBe(false);
    expect(isAddressedTo(req({ pattern: 'w*', matcher: null }), 'w1@h')).toBe(true);
  });

  it('builds a reply {node: result} with ticket and clock headers, and reads it back', () => {
    const msg = buildControlReply('w1@h', { ok: 'pong' }, { ticket: 'tk', clock: 12 });
    expect(msg.body).toBe('{"w1@h": {"ok": "pong"}}');
    expect(msg.headers).toEqual({ ticket: 'tk', clock: 12 });
    expect(msg.properties.delivery_mode).toBe(1);
    const raw = encodeEnvelope(msg, { deliveryTag: 'x', exchange: 'reply.celery.pidbox', routingKey: 'oid' });
    expect(decodeControlReply(raw)).toEqual({ ticket: 'tk', clock: 12, body: { 'w1@h': { ok: 'pong' } } });
  });

  it('encodes a request a kombu node can read', () => {
    const raw = encodeControlRequest(req({ ticket: 't', reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'oid' } }), { clock: 3, expires: 0, deliveryTag: 'd' });
    expect(decodeEnvelope(raw).message.headers).toEqual({ clock: 3, expires: 0 });
    expect(decodeControlRequest(raw).request).toEqual(req({ ticket: 't', reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'oid' } }));
  });

  it('names the mailbox and reply queues', () => {
    expect(mailboxQueueName('w1@h')).toBe('w1@h.celery.pidbox');
    expect(replyQueueName('oid')).toBe('oid.reply.celery.pidbox');
  });
});
