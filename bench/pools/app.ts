/**
 * The app module of the pools bench: a no-op task, loaded by the bench and by every thread
 * of the threads pool.
 */
import { createApp } from 'celeriac';

export const app = createApp({ broker: 'memory://', backend: 'memory://', logLevel: 'error' });

/** Does nothing: what is left of a run is the pool's own cost. */
export const noop = app.task('bench.pools.noop', () => null);
