/**
 * A stand-in worker mailbox for in-process CLI tests of inspect/control/status: answers the
 * control requests addressed to `nodename` with `answer(request)` (undefined = no reply),
 * through the same broker calls a worker makes. The real workers (Python, Celeriac) are
 * exercised in test/interop.
 */
import type { MemoryBroker } from '../../src/exports/memory.js';
import { CONTROL_EXCHANGE, buildControlReply, decodeControlRequest, isAddressedTo, type ControlRequest } from '../../src/protocol/pidbox.js';
import type { Json } from '../../src/protocol/types.js';

/** Subscribes a fake node; resolves with its unsubscribe function. */
export function fakeNode(broker: MemoryBroker, nodename: string, answer: (r: ControlRequest) => Json | undefined, seen: ControlRequest[] = []) {
  return broker.subscribeFanout(CONTROL_EXCHANGE, '#', (raw) => {
    const { request } = decodeControlRequest(raw);
    if (!isAddressedTo(request, nodename)) return;
    seen.push(request);
    if (request.reply_to === undefined || request.ticket === undefined) return;
    const value = answer(request);
    if (value === undefined) return;
    const message = buildControlReply(nodename, value, { ticket: request.ticket, clock: 1 });
    void broker.publish(message, { exchange: request.reply_to.exchange, routingKey: request.reply_to.routing_key, dropUnrouted: true });
  });
}
