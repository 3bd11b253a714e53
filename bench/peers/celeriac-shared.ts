/**
 * What the Celeriac producer and worker of the bench agree on.
 */

/** Name of the no-op task. */
export const NOOP_TASK = 'bench.noop';

/** Broker URL (isolated by kombu's global_keyprefix) and backend URL of a run. */
export function celeriacUrls(env: { host: string; port: number; db: number; prefix: string }): { broker: string; backend: string } {
  const base = `redis://${env.host}:${env.port}/${env.db}`;
  return { broker: `${base}?global_keyprefix=${encodeURIComponent(env.prefix)}`, backend: base };
}
