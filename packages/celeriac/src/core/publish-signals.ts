/**
 * @module core/publish-signals
 * `beforeTaskPublish` and `afterTaskPublish` around every task message this process sends:
 * `delay`/`applyAsync`/`sendTask`, bulk sends, a task's retry and beat's entries. Built only
 * when a handler is there, so a send without handlers pays two map look-ups.
 */
import type { OutgoingTask } from './producer.js';
import type { Signals } from './signals.js';

/** Where the message goes, as the publish names it: the queue itself on the default exchange. */
function address(out: OutgoingTask): { exchange: string; routingKey: string } {
  const { exchange, queue, routingKey } = out.route;
  return { exchange, routingKey: exchange === '' ? queue : routingKey };
}

/** Fires `beforeTaskPublish` for each message (handlers may change `message` in place). */
export function beforePublish(signals: Signals | undefined, outs: readonly OutgoingTask[]): Promise<void> | undefined {
  if (signals === undefined || !signals.has('beforeTaskPublish')) return undefined;
  return announce(outs, (out) => signals.emit('beforeTaskPublish', { name: out.message.headers.task, id: out.message.headers.id, message: out.message, ...address(out) }));
}

/** Fires `afterTaskPublish` for each message the broker took. */
export function afterPublish(signals: Signals | undefined, outs: readonly OutgoingTask[]): Promise<void> | undefined {
  if (signals === undefined || !signals.has('afterTaskPublish')) return undefined;
  return announce(outs, (out) => signals.emit('afterTaskPublish', { name: out.message.headers.task, id: out.message.headers.id, ...address(out) }));
}

async function announce(outs: readonly OutgoingTask[], one: (out: OutgoingTask) => Promise<void> | undefined): Promise<void> {
  for (const out of outs) await one(out);
}
