import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../../test/support/runtime-imports.js';

describe('the lease keeper thread', () => {
  it('loads no npm package, only node built-ins (it boots on every worker start, before the first fetch)', () => {
    const { modules, packages } = runtimeImports(new URL('./lease-keeper-thread.ts', import.meta.url));
    // A sanity check of the walk itself: it followed the thread's own imports.
    expect(modules.some((m) => m.endsWith('/redis/resp-connection.ts'))).toBe(true);
    expect(modules.some((m) => m.endsWith('/brokers/redis/lease-renewal.ts'))).toBe(true);
    expect(packages.filter((p) => !p.startsWith('node:'))).toEqual([]);
  });

  it('loads neither node:tls nor node:crypto: each is resident memory of every worker, in the thread\'s own isolate', () => {
    // node:tls is loaded on a TLS connection only (resp-connection.ts); the scripts, hashed with
    // node:crypto, come from the event loop (lease-keeper.ts). 11.4 -> 10.1 MB of RSS per thread.
    const { modules, packages } = runtimeImports(new URL('./lease-keeper-thread.ts', import.meta.url));
    expect(packages.sort()).toEqual(['node:fs', 'node:net', 'node:worker_threads']);
    expect(modules.filter((m) => /\/(lease-scripts|lease-keeper|script|errors|module-thread)\.ts$/.test(m))).toEqual([]);
  });
});
