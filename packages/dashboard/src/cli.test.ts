import { describe, expect, it } from 'vitest';
import { createApp } from 'celeriac';
import { authLine, flowerOptions, healthLine, resolveFlowerOptions, runFlowerCli } from './cli.js';
import { FLOWER_HEAP_GROWING_PERCENT } from './dashboard.js';

const app = createApp({}, { env: {} });

describe('celeriac flower options', () => {
  /** Parses like `celeriac flower <args>`; what it wrote to stderr in `err`. */
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const err: string[] = [];
    const result = flowerOptions(args, { app, out: () => {}, err: (t) => void err.push(t), env });
    return { result, err: err.join('') };
  };

  it("accepts Flower's spellings: underscores, bare and valued booleans, ignored options with a warning", () => {
    const { result, err } = parse(['--url_prefix=/f', '--read-only', '--persistent', 'false', '--port', '1', '--debug', '--max_tasks', '10', '--conf', 'flowerconfig.py', '--enable_events=no']);
    expect(result).toMatchObject({ urlPrefix: '/f', readOnly: true, dataDir: null, port: 1, maxTasks: 10, ingest: { enableEventsMs: 0 } });
    expect(err).toBe('warning: --debug has no effect in celeriac flower (see docs/dashboard.md)\nwarning: --conf has no effect in celeriac flower (see docs/dashboard.md)\n');
    expect(parse(['--read-only', '--port=2']).result).toMatchObject({ readOnly: true, port: 2 });
    expect(parse(['--persistent=yes', '--anonymous-control', 'off']).result).toMatchObject({ dataDir: 'celeriac-flower', anonymousControl: false });
  });

  it('the command line wins over FLOWER_* as parsed', () => {
    expect(parse(['--port', '7001', '--read_only=false'], { FLOWER_PORT: '7000', FLOWER_READ_ONLY: 'true', FLOWER_ADDRESS: '127.0.0.1' }).result).toMatchObject({ port: 7001, readOnly: false, address: '127.0.0.1' });
  });

  it('refuses garbage with exit code 2 and the --help hint, starting nothing', () => {
    for (const args of [['--port'], ['--port', '1', 'stray'], ['-x'], ['--no-persistent'], ['--persistent', 'maybe'], ['--max-tasks', '0'], ['--port', '1e400'], ['--inspect-interval-ms', '5'], ['--basic-auth']]) {
      const { result, err } = parse(args);
      expect(result, args.join(' ')).toBe(2);
      expect(err, args.join(' ')).toMatch(/^error: [^]*\(celeriac flower --help lists the options\)\n$/);
    }
    expect(parse(['--persistent', 'maybe']).err).toMatch(/--persistent must be a boolean/);
    expect(parse(['--port', '1', 'stray']).err).toMatch(/too many arguments|unknown command|excess/i);
    expect(parse([], { FLOWER_MAX_WORKERS: 'lots' }).err).toMatch(/--max-workers must be an integer >= 1, got "lots"/);
  });

  it('command line over FLOWER_* environment over defaults', () => {
    const env = { FLOWER_PORT: '7000', FLOWER_BASIC_AUTH: 'a:b,c:d', FLOWER_URL_PREFIX: 'flower', DATABASE_URL: 'postgres://u:p@h/db' };
    const o = resolveFlowerOptions({ port: '7001' }, env, app);
    expect(o).toMatchObject({ port: 7001, basicAuth: ['a:b', 'c:d'], urlPrefix: 'flower', databaseUrl: 'postgres://u:p@h/db', dataDir: 'celeriac-flower', readOnly: false });
    expect(resolveFlowerOptions({ persistent: 'no' }, {}, app).dataDir).toBeNull();
    expect(resolveFlowerOptions({}, {}, app).heapGrowingPercent).toBe(FLOWER_HEAP_GROWING_PERCENT);
    expect(resolveFlowerOptions({ purgeOfflineWorkers: '60', inspectTimeout: '2000' }, {}, app).ingest).toMatchObject({ purgeOfflineAfterMs: 60_000, inspectTimeoutMs: 2000 });
    expect(resolveFlowerOptions({}, { FLOWER_ENABLE_EVENTS: 'false' }, app).ingest).toMatchObject({ enableEventsMs: 0 });
  });

  it('takes a trace link template from --trace-url or FLOWER_TRACE_URL, refusing one that is not an http(s) URL with {trace_id}', async () => {
    expect(resolveFlowerOptions({}, { FLOWER_TRACE_URL: 'http://jaeger:16686/trace/{trace_id}' }, app).traceUrl).toBe('http://jaeger:16686/trace/{trace_id}');
    expect(resolveFlowerOptions({}, {}, app).traceUrl).toBeUndefined();
    const lines: string[] = [];
    const io = { app, out: () => {}, err: (t: string) => void lines.push(t), env: {}, stop: () => Promise.reject(new Error('a refused run must not start')) };
    for (const bad of ['javascript:alert(1)//{trace_id}', 'http://jaeger/trace/']) {
      expect(await runFlowerCli([`--trace-url=${bad}`], io)).toBe(2);
    }
    expect(lines.join('')).toContain('--trace-url');
  });

  it('says when the broker or the database starts failing, and when it works again', () => {
    const at = new Date('2026-12-01T01:52:54.381Z');
    expect(healthLine('broker', 'connect ECONNREFUSED 127.0.0.1:6379', at)).toBe('[2026-12-01T01:52:54.381Z] celeriac flower: the broker fails (connect ECONNREFUSED 127.0.0.1:6379); retrying, /readyz reports it\n');
    expect(healthLine('history database', null, at)).toBe('[2026-12-01T01:52:54.381Z] celeriac flower: the history database works again\n');
  });

  it('reads the session and anonymous-mode options, and the banner says which mode is on', () => {
    const o = resolveFlowerOptions({ sessionIdleSec: '600', sessionMaxAgeSec: '3600', anonymousControl: 'true' }, { FLOWER_UNAUTHENTICATED_API: 'yes' }, app);
    expect(o).toMatchObject({ sessionIdleSec: 600, sessionMaxAgeSec: 3600, anonymousControl: true, unauthenticatedApi: true });
    expect(resolveFlowerOptions({}, {}, app).unauthenticatedApi).toBeUndefined();
    expect(authLine(o)).toBe('NONE: pages may act (--anonymous-control), API open to anyone (unauthenticated API)');
    expect(authLine({ app })).toBe('NONE: pages read only, API for scripts only with FLOWER_UNAUTHENTICATED_API');
    expect(authLine({ app, basicAuth: ['a:b'], readOnly: true })).toBe('basic/bearer, read-only');
  });

  it("reads Flower's OAuth options for an OIDC login, and refuses what cannot work", async () => {
    const env = { FLOWER_OAUTH2_KEY: 'id', FLOWER_OAUTH2_SECRET: 'sec', FLOWER_OAUTH2_REDIRECT_URI: 'https://d.example/login/callback' };
    const o = resolveFlowerOptions({ auth: '.*@example\\.com', authProvider: 'flower.views.auth.GoogleLoginHandler' }, env, app);
    expect(o).toMatchObject({ auth: '.*@example\\.com', oidc: { provider: 'google', clientId: 'id', clientSecret: 'sec', redirectUri: 'https://d.example/login/callback' } });
    expect(resolveFlowerOptions({ auth: 'a@b', authProvider: 'okta' }, { ...env, FLOWER_OAUTH2_OKTA_BASE_URL: 'https://okta.example' }, app).oidc).toMatchObject({ issuer: 'https://okta.example' });
    expect(authLine(o)).toBe('OIDC login (google) for emails matching .*@example\\.com');
    const err: string[] = [];
    const io = { app, out: () => {}, err: (t: string) => err.push(t), env, stop: () => Promise.reject(new Error('a refused run must not start')) };
    // GitHub (OAuth2): github.com, or a GitHub Enterprise Server named as Flower names it.
    expect(resolveFlowerOptions({ auth: '.*', authProvider: 'flower.views.auth.GithubLoginHandler' }, env, app).oidc).toEqual({ provider: 'github', clientId: 'id', clientSecret: 'sec', redirectUri: 'https://d.example/login/callback' });
    expect(resolveFlowerOptions({ auth: '.*', authProvider: 'github' }, { ...env, FLOWER_GITHUB_OAUTH_DOMAIN: 'git.example.com' }, app).oidc).toMatchObject({ provider: 'github', issuer: 'https://git.example.com' });
    expect(await runFlowerCli(['--auth', '.*'], io)).toBe(2);
    expect(err.join('')).toMatch(/--auth needs --auth-provider google, gitlab or github/);
  });

  it("says the unit in the name of every option of its own (Flower's keep Flower's names), and reads the old names with one warning", async () => {
    expect(resolveFlowerOptions({ inspectIntervalMs: '500', stuckAfterSec: '60' }, { FLOWER_SESSION_IDLE_SEC: '30' }, app)).toMatchObject({ ingest: { inspectIntervalMs: 500 }, stuckAfterSec: 60, sessionIdleSec: 30 });
    const warnings: string[] = [];
    const o = resolveFlowerOptions({ inspectInterval: '700', sessionMaxAge: '90' }, { FLOWER_STUCK_AFTER: '120', FLOWER_SESSION_IDLE: '40' }, app, (t) => warnings.push(t));
    expect(o).toMatchObject({ ingest: { inspectIntervalMs: 700 }, sessionMaxAgeSec: 90, stuckAfterSec: 120, sessionIdleSec: 40 });
    expect(warnings.sort()).toEqual([
      'warning: --inspect-interval is deprecated: use --inspect-interval-ms (the same number; see docs/upgrading.md)\n',
      'warning: --session-max-age is deprecated: use --session-max-age-sec (the same number; see docs/upgrading.md)\n',
      'warning: FLOWER_SESSION_IDLE is deprecated: use FLOWER_SESSION_IDLE_SEC (the same number; see docs/upgrading.md)\n',
      'warning: FLOWER_STUCK_AFTER is deprecated: use FLOWER_STUCK_AFTER_SEC (the same number; see docs/upgrading.md)\n',
    ]);
    // The new flag wins over an old variable, silently; the command line wins over the environment.
    expect(resolveFlowerOptions({ stuckAfterSec: '5' }, { FLOWER_STUCK_AFTER: '120' }, app, (t) => warnings.push(t)).stuckAfterSec).toBe(5);
    expect(warnings).toHaveLength(4);
    const err: string[] = [];
    const io = { app, out: () => {}, err: (t: string) => err.push(t), env: {}, stop: () => Promise.reject(new Error('a refused run must not start')) };
    expect(await runFlowerCli(['--inspect-interval=500', '--inspect-interval-ms=600'], io)).toBe(2);
    expect(err.join('')).toContain('--inspect-interval and --inspect-interval-ms are one option');
    const help: string[] = [];
    await runFlowerCli(['--help'], { ...io, out: (t) => help.push(t) });
    expect(help.join('')).toMatch(/--inspect-timeout <value> +milliseconds \(Flower's name and unit\)/);
    expect(help.join('')).toMatch(/--purge-offline-workers <value> +seconds \(Flower's name and unit\)/);
    expect(help.join('')).not.toMatch(/--(session-idle|session-max-age|inspect-interval|stuck-after) /);
  });

  it('refuses bad values with the option name and exit code 2', async () => {
    const err: string[] = [];
    const io = { app, out: () => {}, err: (t: string) => err.push(t), env: {}, stop: () => Promise.reject(new Error('a refused run must not start')) };
    expect(await runFlowerCli(['--port', 'abc'], io)).toBe(2);
    expect(err.join('')).toMatch(/--port must be an integer/);
    // Past the last port: it was a RangeError stack from listen, exit 1.
    expect(await runFlowerCli(['--port', '99999'], io)).toBe(2);
    expect(err.join('')).toMatch(/--port must be an integer from 0 to 65535, got "99999"/);
    expect(await runFlowerCli(['--read-only=maybe'], io)).toBe(2);
    expect(await runFlowerCli(['--no-such-option', 'x'], io)).toBe(2);
    expect(await runFlowerCli(['--task-runtime-metric-buckets', '1,x'], io)).toBe(2);
    // pg took any text as a URL: "notaurl" looked up a host named "base".
    expect(await runFlowerCli(['--database-url', 'notaurl'], io)).toBe(2);
    expect(await runFlowerCli([], { ...io, env: { DATABASE_URL: 'mysql://u:secret@db/x' } })).toBe(2);
    expect(err.join('')).toMatch(/--database-url \(or DATABASE_URL\) must be a postgres:\/\/ or postgresql:\/\/ URL, got "mysql:\/\/u:\*\*\*\*@db\/x"/);
  });

  it('--help lists the options', async () => {
    const out: string[] = [];
    expect(await runFlowerCli(['--help'], { app, out: (t) => out.push(t), err: () => {}, stop: () => Promise.reject(new Error('--help must not start')) })).toBe(0);
    expect(out.join('')).toMatch(/--basic-auth <value>/);
    expect(out.join('')).toMatch(/--read-only\[=bool\]/);
    expect(out.join('')).toMatch(/FLOWER_<OPTION>/);
    expect(out.join('')).not.toMatch(/--debug|--url_prefix/);
  });
});
