/**
 * `celeriac worker` and remote control, in process: `-E` turns task events on, and a remote
 * `shutdown` command ends the command (exit 0) without any signal.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { ControlClient, collectEvents } from '../worker/control-client.js';
import { makeApp, run } from './helpers.js';

describe('celeriac worker with remote control', () => {
  it('-E sends task events; a remote shutdown makes the command exit 0', async () => {
    const { app, broker } = makeApp();
    const { events, stop } = await collectEvents(broker);
    const done = run(['worker', '-n', 'cli-remote@test', '-E', '-l', 'error'], { app });
    await waitFor(() => events.some((e) => e.type === 'worker-online' && e.hostname === 'cli-remote@test'), 'worker-online');
    const r = await app.sendTask('cli.add', [2, 2]);
    await waitFor(() => events.some((e) => e.type === 'task-succeeded' && e['uuid'] === r.id), 'task-succeeded event');
    const client = await new ControlClient(broker).open();
    expect(await client.call('shutdown', {}, { destination: ['cli-remote@test'], timeoutMs: 100 })).toEqual([]);
    const result = await done;
    expect(result.code).toBe(0);
    expect(events.some((e) => e.type === 'worker-offline')).toBe(true);
    await stop();
  });
});
