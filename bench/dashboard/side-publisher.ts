/**
 * One event publisher of bench/dashboard/side-by-side.ts, in its own process so several can
 * offer more than one Node process can encode and send. It encodes its whole share of the
 * stream before it is told to go (the timed part only sends), as kombu envelopes: one per
 * event, or `task.multi` batches of `multi` events as a Celery worker with an event loop
 * sends its task events.
 *
 *   node --import tsx bench/dashboard/side-publisher.ts <broker-url> <first-task> <multi> <events>
 *
 * stdin: `go <events/s> <events>` per step; stdout: `ready`, then `sent <events> <ms>` per step.
 */
import { createInterface } from 'node:readline';
import { createApp } from 'celeriac';
import type { EventDict } from 'celeriac/monitor';
import { pino } from 'pino';
import { encodeEventEnvelope, eventRoutingKey, TASK_MULTI_ROUTING_KEY } from '../../packages/celeriac/src/protocol/events.js';
import { eventBatches } from './events.js';

const [brokerUrl, first, multiArg, eventsArg] = process.argv.slice(2);
if (brokerUrl === undefined || first === undefined || multiArg === undefined || eventsArg === undefined) {
  process.stderr.write('usage: side-publisher.ts <broker-url> <first-task> <multi> <events>\n');
  process.exit(2);
}
const multi = Math.max(1, Number(multiArg));
const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
await app.broker.connect();

// Each message: its routing key, its envelope and how many events it carries.
const messages: { key: string; raw: string; events: number }[] = [];
let tag = 0;
const firstTask = Number(first);
for (const batch of eventBatches(firstTask, firstTask + Math.ceil(Number(eventsArg) / 3), multi)) {
  const key = multi === 1 ? eventRoutingKey((batch[0] as EventDict).type) : TASK_MULTI_ROUTING_KEY;
  const body = multi === 1 ? (batch[0] as EventDict) : batch;
  messages.push({ key, raw: encodeEventEnvelope(body, { hostname: String(batch[0]?.['hostname']), routingKey: key, deliveryTag: `${process.pid}-${tag++}` }), events: batch.length });
}
let next = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `total` events at `rate` events/s, in 10 ms slices. */
async function step(rate: number, total: number): Promise<void> {
  let sent = 0;
  const t0 = performance.now();
  while (sent < total && next < messages.length) {
    const due = Math.min(total, ((performance.now() - t0) / 1000) * rate);
    const publishes: Promise<void>[] = [];
    while (sent < due && next < messages.length) {
      const m = messages[next++] as (typeof messages)[number];
      publishes.push(app.broker.publishFanout('celeryev', m.key, m.raw));
      sent += m.events;
    }
    await Promise.all(publishes);
    await sleep(10);
  }
  process.stdout.write(`sent ${sent} ${Math.round(performance.now() - t0)}\n`);
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [verb, rate, total] = line.split(' ');
  if (verb === 'go') await step(Number(rate), Number(total));
  else break;
}
await app.close();
process.exit(0);
