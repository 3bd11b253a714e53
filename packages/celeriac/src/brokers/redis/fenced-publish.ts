/**
 * @module brokers/redis/fenced-publish
 * The broker's side of beat's fence: push an envelope (or park it in the delayed set) only
 * while the lease key holds the sender's token, and record the entry's run state in the
 * same step (scripts/publish-fenced.lua). Same layout as a plain publish.
 */
import type { PublishFence } from '../../core/spi/beat-store.js';
import type { RedisClient } from '../../redis/client.js';
import { loadScript, runScript } from '../../redis/script.js';
import type { PriorityStep, BrokerKeys } from '../../redis/keys.js';
import { delayedMember } from './transitions.js';

const PUBLISH_FENCED = loadScript(new URL('./scripts/publish-fenced.lua', import.meta.url));

/** Publishes `raw` to `queues` if the fence holds; false (nothing written) when it does not. */
export async function publishFenced(
  client: RedisClient,
  keys: BrokerKeys,
  fence: PublishFence,
  queues: readonly string[],
  step: PriorityStep,
  raw: string,
  deliverAt: number | undefined,
): Promise<boolean> {
  const record = fence.record;
  const head = [fence.key, record?.key ?? fence.key];
  const args = [fence.token, record?.field ?? '', deliverAt === undefined ? '' : String(deliverAt), record?.value ?? '', raw];
  const buckets = queues.map((q) => keys.bucket(q, step));
  const reply =
    deliverAt === undefined
      ? await runScript(client, PUBLISH_FENCED, [...head, ...buckets], [...args, ...queues.map((q) => keys.wakeChannel(q))])
      : await runScript(client, PUBLISH_FENCED, [...head, keys.delayed], [...args, ...buckets.map((b) => delayedMember(b, raw))]);
  return reply === 1;
}
