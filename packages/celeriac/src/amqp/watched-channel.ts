/**
 * @module amqp/watched-channel
 * A channel whose every operation's reply is watched: each method that returns a promise
 * (amqplib's operations that wait for RabbitMQ's answer: `assertQueue`, `checkQueue`, `get`,
 * `consume`, `close`...) hands it to `watch` (the session's `awaitReply`), which gives the
 * connection up when the answer is `replyTimeoutMs` late. Methods that answer at once (`publish`,
 * `ack`, `on`) and every other member are the channel's own.
 *
 * For the channels opened for one piece of work (a declaration, a probe, a purge, a
 * subscription): a hot channel watches its few operations itself, without the indirection.
 */

/** Watches a reply: resolves or rejects as `reply` does, or rejects once the connection is given up. */
export type ReplyWatch = <T>(reply: Promise<T>, what: string) => Promise<T>;

/** `channel`, with the promise every method returns passed through `watch`. */
export function watchReplies<C extends object>(channel: C, watch: ReplyWatch): C {
  return new Proxy(channel, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        const out = method.apply(target, args);
        return out instanceof Promise ? watch(out, `a ${String(key)}`) : out;
      };
    },
  });
}
