/**
 * The pure parts of the RabbitMQ queue age (queue-age.ts): what RabbitMQ's answers to the type
 * probe say (the texts are RabbitMQ 3.10.8's, as amqplib reports them), the wait read from a
 * message, and the `timestamp` property a Celeriac producer writes (amqp/wire.ts).
 */
import { describe, expect, it } from 'vitest';
import { fromWire, toWire, type WireMessage } from '../../amqp/wire.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { readProbeAnswer, waitingSinceOf } from './queue-age.js';

const answer = (text: string) => `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - ${text}"`;

describe('readProbeAnswer', () => {
  it('reads the type RabbitMQ names, and none as classic (a queue Celery declared without x-queue-type)', () => {
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'celery' in vhost '/': received the value 'celeriac-queue-type-probe' of type 'longstr' but current is none"))).toEqual({ type: 'classic' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'cqt' in vhost '/': received 'celeriac-queue-type-probe' but current is 'classic'"))).toEqual({ type: 'classic' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'celeriac-queue-type-probe' but current is 'quorum'"))).toEqual({ type: 'quorum' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'celeriac-queue-type-probe' but current is the value 'quorum' of type 'longstr'"))).toEqual({ type: 'quorum' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 's' in vhost '/': received 'celeriac-queue-type-probe' but current is 'stream'"))).toEqual({ type: 'stream' });
  });

  it('a queue name with quotes and colons does not confuse it', () => {
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'a 'odd': but current is 'quorum'' in vhost 'v': received 'celeriac-queue-type-probe' but current is none"))).toEqual({ type: 'classic' });
  });

  it('asks to repeat an argument compared before the type, with its type class', () => {
    expect(readProbeAnswer(answer("inequivalent arg 'x-max-priority' for queue 'cqp' in vhost '/': received none but current is the value '10' of type 'byte'"))).toEqual({ arg: 'x-max-priority', value: 10 });
    expect(readProbeAnswer(answer("inequivalent arg 'x-overflow' for queue 'q' in vhost '/': received none but current is the value 'reject-publish' of type 'longstr'"))).toEqual({ arg: 'x-overflow', value: 'reject-publish' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-single-active-consumer' for queue 'q' in vhost '/': received none but current is the value 'true' of type 'bool'"))).toEqual({ arg: 'x-single-active-consumer', value: true });
  });

  it('a queue that does not exist: RabbitMQ refused to create it', () => {
    expect(readProbeAnswer(answer("invalid arg 'x-queue-type' for queue 'nosuch' in vhost '/': \"unsupported queue type 'celeriac-queue-type-probe'\""))).toEqual({ type: 'missing' });
  });

  it('anything else is unknown (never read)', () => {
    expect(readProbeAnswer(answer("inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"))).toEqual({ type: 'unknown' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'celeriac-queue-type-probe' but current is 'mqtt_qos0'"))).toEqual({ type: 'unknown' });
    expect(readProbeAnswer(answer("inequivalent arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': received none but current is the value '[1]' of type 'array'"))).toEqual({ type: 'unknown' });
    expect(readProbeAnswer('Operation failed: QueueDeclare; 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to queue \'q\' in vhost \'/\' refused for user \'mon\'"')).toEqual({ type: 'unknown' });
    expect(readProbeAnswer('')).toEqual({ type: 'unknown' });
  });
});

describe('waitingSinceOf', () => {
  const at = Date.UTC(2026, 10, 25, 12, 0, 0);
  it('the timestamp property, in ms; none: unknown', () => {
    expect(waitingSinceOf({ properties: { timestamp: at / 1000, headers: {} } } as never)).toBe(at);
    expect(waitingSinceOf({ properties: { headers: { eta: '2026-11-25T12:00:00+00:00' } } } as never)).toBeNull();
  });
  it('a due time later than the send: the ladder header, else the eta', () => {
    expect(waitingSinceOf({ properties: { timestamp: at / 1000, headers: { 'x-celeriac-deliver-at': at + 60_000, eta: '2026-11-25T12:00:30+00:00' } } } as never)).toBe(at + 60_000);
    expect(waitingSinceOf({ properties: { timestamp: at / 1000, headers: { eta: '2026-11-25T12:00:30.500000+00:00' } } } as never)).toBe(at + 30_500);
    expect(waitingSinceOf({ properties: { timestamp: at / 1000, headers: { eta: '2026-11-25T11:00:00+00:00' } } } as never)).toBe(at);
    expect(waitingSinceOf({ properties: { timestamp: at / 1000, headers: { eta: 'not a time' } } } as never)).toBe(at);
  });
});

describe('the timestamp property on the wire', () => {
  const delivered = (options: ReturnType<typeof toWire>['options']): WireMessage => ({
    content: Buffer.from('[]'),
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' },
    properties: { ...options, headers: options.headers },
  });
  it('a message without one is stamped with the send time given; one with its own keeps it (a copy counts from the first send)', () => {
    const sent = toWire(makeMessage('t1'), { timestamp: 1_795_600_000 });
    expect(sent.options.timestamp).toBe(1_795_600_000);
    const back = fromWire(delivered(sent.options));
    expect(back.properties['timestamp']).toBe(1_795_600_000);
    expect(toWire(back, { timestamp: 1_795_600_999 }).options.timestamp).toBe(1_795_600_000);
  });
  it('no send time given and none carried: no property (Python-sent messages stay as they came)', () => {
    const sent = toWire(makeMessage('t2'));
    expect('timestamp' in sent.options).toBe(false);
    expect('timestamp' in fromWire(delivered(sent.options)).properties).toBe(false);
  });
});
