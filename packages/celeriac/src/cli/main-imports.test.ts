import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../test/support/runtime-imports.js';

describe("the celeriac command's start-up", () => {
  it('loads neither the events view nor node:repl: a `celeriac worker` carries every command it does not run', () => {
    // `events` runs from events-watch.ts and `shell` imports node:repl when started: about
    // 2 MB of resident memory in every worker (bench/results/2026-11-25-vm-footprint.md).
    const { modules, packages } = runtimeImports(new URL('./main.ts', import.meta.url));
    // A sanity check of the walk itself: it reached the commands.
    expect(modules.some((m) => m.endsWith('/cli/commands/events.ts'))).toBe(true);
    expect(modules.some((m) => m.endsWith('/cli/commands/shell.ts'))).toBe(true);
    expect(packages).not.toContain('node:repl');
    expect(modules.filter((m) => /\/(events-watch|events-view|event-dump|monitor\/event-receiver|monitor\/cluster-state)\.ts$/.test(m))).toEqual([]);
  });
});
