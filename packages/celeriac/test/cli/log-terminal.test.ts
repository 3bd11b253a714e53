/**
 * Human logs for people (issue 47): an app's own logger, and `celeriac call`'s app, write
 * Celery's human lines when stdout is a terminal and pino's JSON when it is a pipe, unless
 * `logFormat` (`CELERIAC_LOG_FORMAT`, `--log-format`) says otherwise. The terminal is a real
 * pseudo-terminal, made by util-linux's `script`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-log-tty-'));
const script = join(dir, 'log.mjs');
writeFileSync(
  script,
  `import { createApp } from ${JSON.stringify(pathToFileURL(join(ROOT, 'packages/celeriac/dist/index.js')).href)};
const app = createApp({ broker: 'memory://' });
app.log.info({ taskId: 'x' }, 'hello from the app');
app.log.warn({ taskId: 'x' }, 'careful');
await app.close();
`,
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = (extra: Record<string, string>) => {
  const out: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete out['CELERIAC_LOG_FORMAT'];
  return { ...out, ...extra };
};

/** Runs the script with stdout on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(extra: Record<string, string> = {}): string {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`;
  return execFileSync('script', ['-qec', command, '/dev/null'], { env: env(extra), encoding: 'utf8', timeout: 20_000 }).replace(/\r/g, '');
}

/** Runs the script with stdout on a pipe. */
function piped(extra: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [script], { env: env(extra), encoding: 'utf8', timeout: 20_000 });
}

const HUMAN = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: INFO\/MainProcess\] hello from the app$/m;
const HUMAN_WARNING = /^\[[^\]]+: WARNING\/MainProcess\] careful \{"taskId":"x"\}$/m;

describe("the app's logger by where its lines go", () => {
  it('on a terminal: human lines, as Celery prints them', () => {
    const out = onTerminal();
    expect(out).toMatch(HUMAN);
    expect(out).toMatch(HUMAN_WARNING);
    expect(out).not.toContain('"msg"');
  });

  it('on a pipe: one JSON object per line', () => {
    const lines = piped().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[30, 'hello from the app'], [40, 'careful']]);
  });

  it('CELERIAC_LOG_FORMAT says outright: json on a terminal, human on a pipe', () => {
    expect(onTerminal({ CELERIAC_LOG_FORMAT: 'json' })).toMatch(/^\{"level":30,.*"msg":"hello from the app"\}$/m);
    expect(piped({ CELERIAC_LOG_FORMAT: 'HUMAN' })).toMatch(HUMAN);
  });

  it('an unknown CELERIAC_LOG_FORMAT is refused, naming the choices', () => {
    expect(() => execFileSync(process.execPath, [script], { env: env({ CELERIAC_LOG_FORMAT: 'xml' }), encoding: 'utf8', stdio: 'pipe' })).toThrow(
      /CELERIAC_LOG_FORMAT \(setting logFormat\): must be one of auto, human, json/,
    );
  });
});
