import { describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
import type { ChannelSlot } from '../../amqp/channel-slot.js';
import type { AmqpSession } from '../../amqp/session.js';
import { Declarations } from './declarations.js';

/** A session that connects when asked (each connection a new generation), and an admin channel that counts the declarations it runs. */
function fakes() {
  const state = { connected: false, generation: 0, runs: 0 };
  const session = {
    get connected() {
      return state.connected;
    },
    get generation() {
      return state.generation;
    },
    connection: async () => {
      if (!state.connected) {
        state.connected = true;
        state.generation++;
      }
      return {};
    },
  } as unknown as AmqpSession;
  const admin = {
    // As the broker's admin channel: it opens the connection when there is none.
    runIdempotent: async (fn: (ch: Channel) => Promise<unknown>) => {
      await session.connection();
      state.runs++;
      return fn({} as Channel);
    },
  } as unknown as ChannelSlot<Channel>;
  return { state, declarations: new Declarations(session, admin) };
}

describe('Declarations', () => {
  it('declares once per connection, also when the first declaration came before the connection was up', async () => {
    const { state, declarations } = fakes();
    const declare = async () => undefined;
    await declarations.once('queue celery', declare);
    await declarations.once('exchange celery', declare);
    await declarations.once('queue celery', declare);
    expect(state.runs).toBe(2);
    // A new connection: made again there, once.
    state.connected = false;
    await declarations.once('queue celery', declare);
    await declarations.once('queue celery', declare);
    expect(state.runs).toBe(3);
  });
});
