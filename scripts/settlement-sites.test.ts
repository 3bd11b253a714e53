/**
 * One place settles a message (issue 46): in packages/celeriac/src only worker/settlement.ts
 * calls a settlement method of a `Delivery`, besides the modules listed here with why. The
 * second block proves the finder bites: a delivery settled under another name is found, a
 * row's `ack(policy)` and a promise's `reject` are not.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { celeriacProject, findSettlementSites } from './settlement-sites.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The modules that may settle a delivery, and why. */
const ALLOWED: Record<string, string> = {
  'packages/celeriac/src/worker/settlement.ts': 'the worker settles here, and only here',
  'packages/celeriac/src/cli/commands/migrate.ts': 'moves messages between brokers: no task runs',
  'packages/celeriac/src/monitor/control-client.ts': 'acks a remote-control reply, not a task message',
  'packages/celeriac/src/testing/broker-harness.ts': 'the conformance suites exercise what adapters do on settlement',
  'packages/celeriac/src/testing/broker-conformance.ts': 'as above',
  'packages/celeriac/src/testing/broker-listing-conformance.ts': 'as above',
};

describe('settlement sites', () => {
  it('only worker/settlement.ts settles a delivery in the worker, and nothing else in src does but the listed modules', { timeout: 120_000 }, () => {
    const { files, options } = celeriacProject(ROOT);
    const sites = findSettlementSites(files, options, ROOT);
    const elsewhere = sites.filter((s) => ALLOWED[s.file] === undefined).map((s) => `${s.file}:${s.line} ${s.method}`);
    expect(elsewhere).toEqual([]);
    // The finder still sees the worker's own sites: every settlement method is called there.
    const own = new Set(sites.filter((s) => s.file.endsWith('worker/settlement.ts')).map((s) => s.method));
    expect([...own].sort()).toEqual(['ack', 'defer', 'reject', 'restore', 'setAside']);
  });

  describe('on a fake tree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settlement-sites-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('finds a delivery settled under any name, and nothing that only shares a method name', { timeout: 60_000 }, () => {
      writeFileSync(
        join(dir, 'broker.ts'),
        'export interface Delivery { ack(): Promise<void>; reject(o: { requeue: boolean }): Promise<void>; restore(): Promise<void>; defer(at: number): Promise<void>; setAside(reason: string): Promise<void> }\n',
      );
      writeFileSync(
        join(dir, 'rogue.ts'),
        [
          "import type { Delivery } from './broker.js';",
          'const row = { ack: (p: number) => p };',
          'export async function rogue(d: Delivery, list: Delivery[]): Promise<void> {',
          '  row.ack(1);',
          "  await Promise.reject(new Error('x')).catch(() => undefined);",
          '  await d.ack();',
          '  const alias = list[0]!;',
          '  await alias.reject({ requeue: true });',
          "  await list[1]!.setAside('why');",
          '}',
          '',
        ].join('\n'),
      );
      const sites = findSettlementSites([join(dir, 'rogue.ts')], { strict: true, module: 99, moduleResolution: 100, target: 9 }, dir);
      expect(sites.map((s) => `${s.file}:${s.line} ${s.method}`)).toEqual(['rogue.ts:6 ack', 'rogue.ts:8 reject', 'rogue.ts:9 setAside']);
    });
  });
});
