/**
 * The results role's conformance suite (testing/backend-conformance.ts) against the `rpc://`
 * backend on a real RabbitMQ vhost: each test's backend stores to its own result queue, so
 * every state it reads came back over RabbitMQ or was known at its confirm, once (a state this
 * process sends itself also comes back as an echo, which must not notify twice). rpc:// keeps
 * results in memory and never expires them, as Celery's does: the expiry test says so.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe } from 'vitest';
import { RpcBackend } from '../../src/backends/rpc/rpc-backend.js';
import { backendConformance } from '../../src/testing/backend-conformance.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';

const ready = await amqpAvailable();

describe.runIf(ready)('rpc:// results on RabbitMQ', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('rpcconf');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  });
  backendConformance('rpc', () => new RpcBackend({ brokerUrl: vhostUrl(vhost), replyTo: `conformance-${randomUUID()}`, resultExpiresSec: 60 }), { expires: false });
});
