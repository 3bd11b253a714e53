/**
 * node-redis's Sentinel client prints each failed round of asking the sentinels with
 * `console.log(error)`, stack and all, once a second (redis/sentinel-console.ts). A process
 * whose stdout is its JSON log got four lines of stack a second through a Sentinel outage. Here
 * a real process sends through a `redis+sentinel://` broker whose sentinel does not answer: its
 * stdout must stay one JSON object a line, with the failure said once, at warn.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { libraryLoaderArgs, libraryModuleUrl } from '../support/node-script.js';
import { freePort } from '../support/redis.js';

const run = promisify(execFile);

describe('a Sentinel outage in the log', () => {
  it('is one warn line of JSON, not a stack a second on stdout', async () => {
    const port = await freePort();
    const code = `
      import { createApp } from ${JSON.stringify(libraryModuleUrl('index.ts'))};
      const app = createApp({
        broker: 'redis+sentinel://127.0.0.1:${port}/nobody/0',
        brokerTransportOptions: { connectTimeoutMs: 3500 },
        taskPublishRetry: false,
        logFormat: 'json',
        logLevel: 'info',
      }, { env: {} });
      const sent = await app.sendTask('t.none', []).then(() => 'sent', (err) => err.message);
      await app.close();
      console.error('SEND ' + sent);
    `;
    const { stdout, stderr } = await run(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], { timeout: 30_000 });
    // The send failed after the connect limit: 3.5 s of rounds a second apart, each printed before.
    expect(stderr).toMatch(/SEND .*no sentinel \(127\.0\.0\.1:\d+\) named master "nobody" that could be reached within 3500 ms/);
    const lines = stdout.split('\n').filter((l) => l !== '');
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as { level: number; msg: string; sentinels?: string; master?: string };
      } catch {
        throw new Error(`stdout holds a line that is not JSON: ${JSON.stringify(line)}\nall of it:\n${stdout}`);
      }
    });
    const said = records.filter((r) => r.msg.includes('None of the sentinels are available'));
    expect(said, stdout).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, sentinels: `127.0.0.1:${port}`, master: 'nobody' });
  }, 40_000);
});
