import { stat } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../core/spi/broker.js';
import { Inbox, makeMessage } from './broker-harness.js';

function deliveryOf(id: string): Delivery {
  const m = makeMessage(id);
  return { raw: JSON.stringify({ headers: m.headers, properties: m.properties, body: m.body }) } as unknown as Delivery;
}

/** Blocks the event loop from an I/O callback until `ms` past now, then delivers `id` from the check phase. */
function deliverAfterStall(inbox: Inbox, id: string, ms: number): void {
  stat('.', () => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      /* a loaded host: the loop gets no turn */
    }
    setImmediate(() => inbox.onDelivery(deliveryOf(id)));
  });
}

describe('Inbox.expectTotal', () => {
  it('does not count a delivery that arrived after its window while the sleep overran', async () => {
    const inbox = new Inbox();
    // The stall ends past the 30 ms window; the delivery lands before the overdue sleep ends.
    deliverAfterStall(inbox, 'late', 120);
    await inbox.expectTotal(0, 30);
    expect(inbox.count).toBe(1);
  });

  it('counts a delivery that arrived within the window', async () => {
    const inbox = new Inbox();
    inbox.onDelivery(deliveryOf('early'));
    await expect(inbox.expectTotal(0, 20)).rejects.toThrow('deliveries within 20 ms: early (0 after)');
    await inbox.expectTotal(1, 5);
  });
});
