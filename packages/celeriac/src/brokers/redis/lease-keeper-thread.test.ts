import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The modules `entry` loads at run time, following relative imports through the source tree:
 * every specifier of an import or export that is not type-only (a type import is erased), as
 * written. A `.js` specifier is read as its `.ts` source.
 */
function runtimeImports(entry: URL): { modules: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const url = stack.pop()!;
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    const text = readFileSync(url, 'utf8');
    for (const m of text.matchAll(/^(import|export)\s+(type\s+)?(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)?\s*(?:from\s+)?'([^']+)'/gm)) {
      if (m[2] !== undefined) continue;
      // `import { type A } from 'x'` is not skipped: verbatimModuleSyntax keeps it as `import {} from 'x'`, which loads x.
      const specifier = m[4]!;
      if (specifier.startsWith('.')) stack.push(new URL(specifier.replace(/\.js$/, '.ts'), url));
      else packages.add(specifier);
    }
  }
  return { modules: [...seen], packages: [...packages] };
}

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
