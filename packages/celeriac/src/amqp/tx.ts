/**
 * @module amqp/tx
 * AMQP 0-9-1 transactions (class `tx`, 90) on an amqplib channel: amqplib encodes the frames
 * but exposes no method for them. On a channel after {@link txSelect}, publishes, acks and
 * rejects take effect together at {@link txCommit}; a channel (or connection) that closes
 * first discards them, and RabbitMQ puts messages taken with `basic.get` back. Used by beat's
 * store (brokers/amqp/beat-store.ts) and the delayed-message purge (brokers/amqp/purge-delayed.ts).
 */
import type { Channel } from 'amqplib';

const TX_SELECT = (90 << 16) | 10;
const TX_SELECT_OK = (90 << 16) | 11;
const TX_COMMIT = (90 << 16) | 20;
const TX_COMMIT_OK = (90 << 16) | 21;

type RpcChannel = Channel & { rpc(method: number, fields: object, expect: number): Promise<unknown> };

/** Puts `channel` in transaction mode. */
export async function txSelect(channel: Channel): Promise<void> {
  await (channel as RpcChannel).rpc(TX_SELECT, {}, TX_SELECT_OK);
}

/** Commits what `channel` did since the last commit. */
export async function txCommit(channel: Channel): Promise<void> {
  await (channel as RpcChannel).rpc(TX_COMMIT, {}, TX_COMMIT_OK);
}
