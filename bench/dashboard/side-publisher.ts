/**
 * One event publisher of bench/dashboard/side-by-side.ts, in its own process so several can
 * offer more than one Node process can encode and send. Told to go, it first encodes the step's
 * events (whole tasks: received, started, then succeeded or failed) as kombu envelopes, one per
 * event or `task.multi` batches of `multi` events as a Celery worker with an event loop sends
 * its task events, and only then starts the clock and sends them (the timed part only sends).
 * Each step's tasks follow the last step's, so no task id comes twice.
 *
 *   node --import tsx bench/dashboard/side-publisher.ts <broker-url> <first-task> <multi>
 *
 * stdin: `go <events/s> <events>` per step; stdout: `ready`, then `sent <events> <ms>` per step.
 */
import { createInterface } from 'node:readline';
import { createApp } from 'celeriac';
import type { EventDict } from 'celeriac/monitor';
import { pino } from 'pino';
import { encodeEventEnvelope, eventRoutingKey, TASK_MULTI_ROUTING_KEY } from '../../packages/celeriac/src/protocol/events.js';
import { eventBatches } from './events.js';

const [brokerUrl, first, multiArg] = process.argv.slice(2);
if (brokerUrl === undefined || first === undefined || multiArg === undefined) {
  process.stderr.write('usage: side-publisher.ts <broker-url> <first-task> <multi>\n');
  process.exit(2);
}
const multi = Math.max(1, Number(multiArg));
const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
await app.broker.connect();

/** One message: its routing key, its envelope and how many events it carries. */
interface Message {
  key: string;
  raw: string;
  events: number;
}
let tag = 0;
let nextTask = Number(first);

/** The messages of the next `events` events (whole tasks, so up to two more). */
function encode(events: number): Message[] {
  const messages: Message[] = [];
  const from = nextTask;
  nextTask += Math.ceil(events / 3);
  for (const batch of eventBatches(from, nextTask, multi)) {
    const key = multi === 1 ? eventRoutingKey((batch[0] as EventDict).type) : TASK_MULTI_ROUTING_KEY;
    const body = multi === 1 ? (batch[0] as EventDict) : batch;
    messages.push({ key, raw: encodeEventEnvelope(body, { hostname: String(batch[0]?.['hostname']), routingKey: key, deliveryTag: `${process.pid}-${tag++}` }), events: batch.length });
  }
  return messages;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `total` events at `rate` events/s, in 10 ms slices, once they are encoded. */
async function step(rate: number, total: number): Promise<void> {
  const messages = encode(total);
  let next = 0;
  let sent = 0;
  const t0 = performance.now();
  while (sent < total && next < messages.length) {
    const due = Math.min(total, ((performance.now() - t0) / 1000) * rate);
    const publishes: Promise<number | void>[] = [];
    while (sent < due && next < messages.length) {
      const m = messages[next++] as Message;
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
