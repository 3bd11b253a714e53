import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createApp } from '../create-app.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { readDelayedTasks } from './delayed-tasks.js';

describe('readDelayedTasks', () => {
  it('never counts fewer delayed tasks than it listed (a broker\'s count may lag its listing, as a RabbitMQ queue\'s message count does)', async () => {
    const broker = new MemoryBroker();
    const app = createApp({}, { broker, env: {}, logger: pino({ level: 'silent' }) });
    try {
      const sent = await Promise.all([1, 2].map((n) => app.sendTask('t.add', [n], {}, { countdown: 600 })));
      expect(await readDelayedTasks(broker, 10)).toMatchObject({ total: 2, tasks: sent.map((r) => ({ id: r.id, name: 't.add' })) });
      // The count read beside the listing, before the broker counted the second message.
      broker.delayedCount = () => Promise.resolve(1);
      const read = await readDelayedTasks(broker, 10);
      expect(read?.tasks).toHaveLength(2);
      expect(read?.total).toBe(2);
      // Past the listing's limit, the count is what tells how many there are.
      broker.delayedCount = () => Promise.resolve(5);
      expect(await readDelayedTasks(broker, 1)).toMatchObject({ total: 5, tasks: [{ id: sent[0]!.id }] });
    } finally {
      await app.close();
    }
  });
});
