import { afterAll, beforeAll } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { brokerConformance } from '../../testing/broker-conformance.js';
import { bindingsConformance, fanoutConformance } from '../../testing/broker-fanout-conformance.js';
import { delayedListingConformance } from '../../testing/broker-listing-conformance.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { AmqpBroker } from './amqp-broker.js';

const available = await amqpAvailable();

if (available) {
  let vhost = '';
  let quorumVhost = '';
  beforeAll(async () => {
    vhost = await createVhost('conf');
    quorumVhost = await createVhost('confq', { quorum: true });
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
    await deleteVhost(quorumVhost);
  }, 60_000);
  // x-max-priority 10 on every task queue, as Celery's task_queue_max_priority = 10.
  const make = () => new AmqpBroker(vhostUrl(vhost), { queueMaxPriority: 10 });
  brokerConformance('amqp', make);
  fanoutConformance('amqp', make);
  bindingsConformance('amqp', make);
  delayedListingConformance('amqp', make);
  // Every task queue a quorum queue (Celery 5.5+'s task_create_missing_queue_type = 'quorum'):
  // per-consumer prefetch, kombu's delay ladder, no priorities.
  const quorum = { ...CLASSIC_TOPOLOGY, defaultQueueType: 'quorum', missingQueueType: 'quorum' } as const;
  // No delayed listing conformance with quorum queues: kombu's ladder is counted, never browsed
  // (list-delayed.ts; amqp-delayed-listing.test.ts checks it).
  brokerConformance('amqp quorum', () => new AmqpBroker(vhostUrl(quorumVhost), { queueMaxPriority: 10, queues: quorum }));
}
