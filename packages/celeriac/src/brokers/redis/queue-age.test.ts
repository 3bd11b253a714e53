import { describe, expect, it } from 'vitest';
import { uuid4, uuid7 } from '../../core/uuid.js';
import { encodeEnvelope } from '../../protocol/envelope.js';
import { waitingSince } from './queue-age.js';

const AT = Date.parse('2026-11-25T10:00:00.250Z');

/** A kombu Redis envelope with `tag` and `headers`, as encodeEnvelope writes it. */
function envelope(tag: string, headers: Record<string, unknown> = {}): string {
  const message = { headers: { task: 't', id: 'x', ...headers }, properties: { correlation_id: 'x', reply_to: '', delivery_mode: 2 as const, priority: 0 }, contentType: 'application/json', contentEncoding: 'utf-8', body: '[[], {}, {}]' };
  return encodeEnvelope(message as never, { deliveryTag: tag, exchange: '', routingKey: 'celery' });
}

describe('waitingSince', () => {
  it('reads the send time from a uuid7 delivery tag', () => {
    expect(waitingSince(envelope(uuid7(AT)))).toBe(AT);
  });

  it('waits from the ETA when it is later than the send, from the send when the ETA is past', () => {
    expect(waitingSince(envelope(uuid7(AT), { eta: '2026-11-25T10:05:00+00:00' }))).toBe(Date.parse('2026-11-25T10:05:00Z'));
    expect(waitingSince(envelope(uuid7(AT), { eta: '2026-11-25T09:00:00+00:00' }))).toBe(AT);
    expect(waitingSince(envelope(uuid7(AT), { eta: 'not a time' }))).toBe(AT);
    expect(waitingSince(envelope(uuid7(AT), { eta: null }))).toBe(AT);
  });

  it("knows nothing of a kombu message (uuid4 tag), even with an ETA", () => {
    expect(waitingSince(envelope(uuid4()))).toBeNull();
    expect(waitingSince(envelope(uuid4(), { eta: '2026-11-25T10:05:00+00:00' }))).toBeNull();
  });

  it('returns null for garbage, never throws', () => {
    for (const raw of [undefined, null, 7, '', 'not json', '[]', '{}', '{"properties": 1}', '{"properties": {"delivery_tag": 5}}', `{"properties": {"delivery_tag": "${uuid7(AT)}"}, "headers": "x"}`.replace('"x"', '7')]) {
      expect(() => waitingSince(raw)).not.toThrow();
    }
    expect(waitingSince('{"properties": {"delivery_tag": 5}}')).toBeNull();
    // No headers at all: the tag's time.
    expect(waitingSince(`{"properties": {"delivery_tag": "${uuid7(AT)}"}}`)).toBe(AT);
  });
});
