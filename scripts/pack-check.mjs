#!/usr/bin/env node
// Installs the packages as a user would and runs them (issue 47): `npm pack` celeriac and
// @celeriac/dashboard (and create-celeriac when present), install the tarballs with plain npm in
// an empty directory outside the workspace (no workspace links, no tsx), then run `celeriac
// --version`, a JS worker and producer on memory:// and on Redis, `celeriac flower` serving its
// page, and a strict `tsc` over a TypeScript consumer. Fails on an EBADENGINE warning, on a
// tarball over its size budget, and on a tarball missing README, LICENSE, CHANGELOG or its
// declarations. Needs a built workspace (`npm run build`) and Redis (CELERIAC_TEST_REDIS_URL,
// default redis://127.0.0.1:6379/0; under CI its absence fails the check).
//
//   node scripts/pack-check.mjs [--keep]       --keep leaves the install directory in place
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Packed (gzip) size budgets in bytes: a tarball past one fails the check. celeriac's was 1.30 MB
 * from 2026-11-25; four days of features (its sources, JS, maps and declarations, nothing
 * else: no test or fixture is packed) brought it to 1,300,207 bytes on 2026-11-29, so 1.40 MB;
 * a day of fixes (sessions 46-53, the same parts) to 1,401,633 on 2026-11-30, so 1.50 MB.
 */
export const BUDGETS = { celeriac: 1_500_000, '@celeriac/dashboard': 450_000, 'create-celeriac': 60_000 };
/** Files every tarball must carry. */
const REQUIRED = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'];
const REDIS_URL = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const keep = process.argv.includes('--keep');

const started = Date.now();
const log = (line) => process.stdout.write(`[pack-check +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/** Runs a command to its end; resolves with its output, rejects (with the output) on a non-zero exit. */
function run(cmd, args, { cwd, env, input, timeoutMs = 180_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise({ out, err });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}\n--- stdout\n${out}\n--- stderr\n${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** Starts a long-running command; `output()` is what it printed so far, `stop()` sends SIGTERM and waits. */
function start(cmd, args, { cwd, env } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  const exited = new Promise((r) => child.on('close', (code, signal) => r(code ?? signal)));
  return {
    output: () => text,
    exited,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function waitFor(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

function fail(message) {
  throw new Error(message);
}

/** The packages to pack: the workspace's publishable ones. */
function packageDirs() {
  return ['packages/celeriac', 'packages/dashboard', 'packages/create-celeriac'].filter((dir) => existsSync(join(ROOT, dir, 'package.json')));
}

async function pack(dest) {
  const dirs = packageDirs();
  const { out } = await run('npm', ['pack', '--json', '--pack-destination', dest, ...dirs.flatMap((d) => ['-w', d])], { cwd: ROOT });
  const packed = JSON.parse(out.slice(out.indexOf('[')));
  for (const p of packed) {
    const files = new Set(p.files.map((f) => f.path));
    const budget = BUDGETS[p.name] ?? fail(`no size budget for ${p.name}`);
    log(`${p.name}@${p.version}: ${(p.size / 1e6).toFixed(2)} MB packed (budget ${(budget / 1e6).toFixed(2)}), ${(p.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${p.entryCount} files`);
    if (p.size > budget) fail(`${p.name}: the tarball is ${p.size} bytes, over its budget of ${budget}`);
    for (const f of REQUIRED) if (!files.has(f)) fail(`${p.name}: the tarball has no ${f}`);
    const pkg = JSON.parse(readFileSync(join(ROOT, dirs[packed.indexOf(p)], 'package.json'), 'utf8'));
    if (pkg.private) fail(`${p.name} is private: it cannot be published`);
    if (pkg.types !== undefined && !files.has(pkg.types.replace(/^\.\//, ''))) fail(`${p.name}: the tarball has no ${pkg.types}`);
    const stray = [...files].filter((f) => !f.startsWith('template/') && /\.test\.|(^|\/)test\//.test(f));
    if (stray.length > 0) fail(`${p.name}: the tarball carries test files: ${stray.slice(0, 5).join(', ')}`);
    const buildState = [...files].filter((f) => f.endsWith('.tsbuildinfo'));
    if (buildState.length > 0) fail(`${p.name}: the tarball carries TypeScript's build state: ${buildState.join(', ')}`);
  }
  return packed.map((p) => join(dest, p.filename));
}

/** Installs the tarballs, TypeScript and Node's types with plain npm; fails on an engine warning. */
async function install(dir, tarballs) {
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const typescript = `typescript@${rootPkg.devDependencies.typescript}`;
  const types = `@types/node@${rootPkg.devDependencies['@types/node']}`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-check-consumer', private: true, type: 'module' }, null, 2));
  const { out, err } = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'warn', ...tarballs.filter((t) => !/create-celeriac/.test(t)), typescript, types], { cwd: dir });
  const text = out + err;
  if (/EBADENGINE/.test(text)) fail(`npm install printed EBADENGINE:\n${text}`);
  for (const loader of ['tsx', 'esbuild']) if (existsSync(join(dir, 'node_modules', loader))) fail(`${loader} was installed: the packages must run without a TypeScript loader`);
  log(`installed in ${dir} (no EBADENGINE, no tsx)`);
}

const APP_JS = `import { createApp } from 'celeriac';

export const app = createApp({
  broker: process.env.CELERY_BROKER_URL ?? 'memory://',
  backend: process.env.CELERY_RESULT_BACKEND ?? 'memory://',
});

export const add = app.task('packcheck.add', (x, y) => x + y);
`;

const MEMORY_JS = `import { Worker } from 'celeriac';
import { add, app } from './app.js';

const worker = new Worker(app, { concurrency: 2 });
await worker.start();
const result = await add.delay(2, 3);
console.log('memory result', await result.get({ timeoutMs: 10_000 }));
await worker.close();
await app.close();
`;

const SEND_JS = `import { add, app } from './app.js';

const result = await add.delay(20, 22);
console.log('redis result', await result.get({ timeoutMs: 20_000 }), result.id);
await app.close();
`;

const CONSUMER_TS = `import { createApp, chain, type AsyncResult } from 'celeriac';
import { every } from 'celeriac/beat';
import { createTestApp } from 'celeriac/testing';

export const app = createApp({ broker: 'memory://', taskAcksLate: true, beatSchedule: { tick: { task: 'c.add', schedule: every(30), args: [1, 2] } } });
export const add = app.task('c.add', (x: number, y: number) => x + y);
export const greet = app.task('c.greet', { bind: true, maxRetries: 3 }, async (ctx, name: string) => \`\${ctx.request.id}: hi \${name}\`);

export async function use(): Promise<number> {
  const r: AsyncResult<number> = await add.delay(2, 3);
  // @ts-expect-error: a string is not a number
  await add.delay('2', 3);
  await chain(add.s(1, 2), add.s(3)).applyAsync();
  const text: string = await (await greet.delay('x')).get({ timeoutMs: 1000 });
  void text;
  const test = createTestApp();
  await test.app.close();
  return r.get({ timeoutMs: 1000 });
}
`;

const DASHBOARD_TS = `import { createApp } from 'celeriac';
import { startDashboard, pgTransaction, type DashboardOptions } from '@celeriac/dashboard';

const options: DashboardOptions = { app: createApp(), port: 0 };
export const running = startDashboard(options);
// @ts-expect-error: the port is a number
export const wrong: DashboardOptions = { app: createApp(), port: '5555' };
export { pgTransaction };
`;

/** A strict consumer's tsconfig; `skipLibCheck: false` checks celeriac's declarations themselves. */
const tsconfig = (file, skipLibCheck) => ({
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true, skipLibCheck, noEmit: true, types: ['node'],
  },
  files: [file],
});

async function checkMemory(dir) {
  const { out } = await run('node', ['memory.js'], { cwd: dir, env: { CELERIAC_LOG_LEVEL: 'warn' }, timeoutMs: 30_000 });
  if (!/memory result 5\b/.test(out)) fail(`the memory:// worker did not return 5:\n${out}`);
  log('a JS worker and producer on memory:// ran add(2, 3) = 5');
}

async function redisClient() {
  const { createClient } = await import('@redis/client');
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch {
    return null;
  }
}

async function checkRedis(dir) {
  const client = await redisClient();
  if (client === null) {
    if (process.env.CI === 'true') fail(`Redis is not reachable at ${REDIS_URL} (required under CI)`);
    log(`skipped the Redis run: Redis is not reachable at ${REDIS_URL}`);
    return;
  }
  const prefix = `packcheck-${randomUUID()}:`;
  const url = new URL(REDIS_URL);
  url.searchParams.set('global_keyprefix', prefix);
  const env = { CELERY_BROKER_URL: url.href, CELERY_RESULT_BACKEND: REDIS_URL };
  const worker = start(join(dir, 'node_modules/.bin/celeriac'), ['-A', './app.js', 'worker', '-c', '2', '-n', `packcheck-${process.pid}@%h`], { cwd: dir, env });
  let taskId;
  try {
    await waitFor('the Redis worker to be ready', () => /ready/i.test(worker.output()));
    const { out } = await run('node', ['send.js'], { cwd: dir, env, timeoutMs: 40_000 });
    const m = /redis result (\d+) (\S+)/.exec(out);
    taskId = m?.[2];
    if (m?.[1] !== '42') fail(`the Redis worker did not return 42:\n${out}\n--- worker\n${worker.output()}`);
  } finally {
    const code = await worker.stop();
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) if (keys.length > 0) await client.del(keys);
    if (taskId !== undefined) await client.del(`celery-task-meta-${taskId}`);
    client.destroy();
    if (code !== 0) fail(`the Redis worker exited ${code} on SIGTERM:\n${worker.output()}`);
  }
  log('`celeriac worker` on Redis ran add(20, 22) = 42 for a JS producer, and stopped cleanly on SIGTERM');
}

async function checkFlower(dir) {
  const port = await freePort();
  const flower = start(join(dir, 'node_modules/.bin/celeriac'), ['-b', 'memory://', 'flower', '--port', String(port), '--address', '127.0.0.1'], { cwd: dir });
  try {
    let page = '';
    await waitFor('the dashboard page', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => null);
      if (res?.status !== 200) return false;
      page = await res.text();
      return true;
    }, 60_000).catch((error) => fail(`${error.message}\n${flower.output()}`));
    if (!/<html/i.test(page)) fail(`the dashboard's page is not HTML:\n${page.slice(0, 300)}`);
    const api = await fetch(`http://127.0.0.1:${port}/healthcheck`);
    if (api.status !== 200) fail(`GET /healthcheck answered ${api.status}`);
  } finally {
    const code = await flower.stop();
    if (code !== 0) fail(`celeriac flower exited ${code} on SIGTERM:\n${flower.output()}`);
  }
  log('`celeriac flower` from the installed dashboard served its page and stopped on SIGTERM');
}

async function checkTypes(dir) {
  const tsc = join(dir, 'node_modules/.bin/tsc');
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig('consumer.ts', false), null, 2));
  await run(tsc, ['-p', 'tsconfig.json'], { cwd: dir });
  // The dashboard's declarations reach PGlite's, which name Emscripten's global types without
  // declaring them: with skipLibCheck false that is an error in PGlite, not here. So this one
  // uses the default of `tsc --init` (skipLibCheck true); its own declarations still resolve.
  writeFileSync(join(dir, 'dashboard.ts'), DASHBOARD_TS);
  writeFileSync(join(dir, 'tsconfig.dashboard.json'), JSON.stringify(tsconfig('dashboard.ts', true), null, 2));
  await run(tsc, ['-p', 'tsconfig.dashboard.json'], { cwd: dir });
  log('strict tsc passed on a celeriac consumer (skipLibCheck false, exactOptionalPropertyTypes) and a dashboard consumer');
}

/**
 * The starter as a user meets it: `npm exec` of the create-celeriac tarball scaffolds an app,
 * whose dependencies are the packed celeriac and dashboard (not yet on the registry), and the
 * app's own `npm test` (tsc and vitest on its tasks) passes.
 */
/** The commands this check runs for the starter, as docs/getting-started.md gives them. */
const GETTING_STARTED = ['npm create celeriac@latest my-app', 'cd my-app && npm install', 'npm test', 'npm start'];

/** Fails when docs/getting-started.md's "Start a new app" commands are not the ones run here. */
function checkGettingStartedDoc() {
  const doc = readFileSync(join(ROOT, 'docs/getting-started.md'), 'utf8');
  const block = /## Start a new app\n\n```sh\n([\s\S]*?)```/.exec(doc)?.[1];
  if (block === undefined) fail('docs/getting-started.md has no "Start a new app" sh block');
  const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  if (JSON.stringify(commands) !== JSON.stringify(GETTING_STARTED)) fail(`docs/getting-started.md's commands ${JSON.stringify(commands)} are not the ones pack-check runs ${JSON.stringify(GETTING_STARTED)}: change both together`);
}

async function checkStarter(dir, tarballs) {
  checkGettingStartedDoc();
  const starter = tarballs.find((t) => /create-celeriac/.test(t));
  if (starter === undefined) fail('create-celeriac was not packed');
  const { out } = await run('npm', ['exec', '--yes', '--package', starter, '--', 'create-celeriac', 'my-app'], { cwd: dir });
  if (!/Created my-app/.test(out)) fail(`create-celeriac printed no "Created my-app":\n${out}`);
  const app = join(dir, 'my-app');
  for (const f of ['package.json', 'src/app.ts', 'src/main.ts', 'src/schedule.ts', 'test/tasks.test.ts', 'Dockerfile', 'compose.yaml', '.gitignore', 'README.md']) {
    if (!existsSync(join(app, f))) fail(`the starter has no ${f}`);
  }
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/celeriac/package.json'), 'utf8'));
  if (pkg.name !== 'my-app' || pkg.dependencies.celeriac !== `^${version}`) fail(`the starter's package.json is not filled in: ${JSON.stringify(pkg)}`);
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'warn', ...tarballs.filter((t) => t !== starter)], { cwd: app });
  if (/EBADENGINE/.test(install.out + install.err)) fail(`the starter's npm install printed EBADENGINE:\n${install.out}${install.err}`);
  const test = await run('npm', ['test'], { cwd: app, env: { CI: 'true' }, timeoutMs: 240_000 });
  if (!/3 passed/.test(test.out)) fail(`the starter's tests did not pass 3:\n${test.out}`);
  const main = start(join(app, 'node_modules/.bin/tsx'), ['src/main.ts'], { cwd: app, env: { CELERIAC_LOG_LEVEL: 'warn' } });
  try {
    await waitFor('the starter\'s npm start to print add(2, 3) = 5', () => /add\(2, 3\) = 5/.test(main.output()));
    await waitFor('the starter\'s npm start to say it is running', () => /Ctrl-C stops them/.test(main.output()));
    // It says it runs until Ctrl-C: it must still be running a moment later.
    const early = await Promise.race([main.exited.then((code) => `exited ${code}`), new Promise((r) => setTimeout(() => r(null), 1500))]);
    if (early !== null) fail(`the starter's src/main.ts ${early} by itself instead of running until stopped:\n${main.output()}`);
  } finally {
    const code = await main.stop();
    if (code !== 0) fail(`the starter's src/main.ts exited ${code} on SIGTERM:\n${main.output()}`);
  }
  log('docs/getting-started.md, run: `npm create celeriac` (the packed create-celeriac) scaffolded my-app; its npm install, npm test (tsc + 3 vitest tests) and npm start (add(2, 3) = 5) passed');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-pack-'));
  if (dir.startsWith(ROOT)) fail('the install directory must be outside the workspace');
  try {
    const tarballs = await pack(dir);
    await install(dir, tarballs);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/celeriac/package.json'), 'utf8'));
    const { out } = await run('npx', ['--no-install', 'celeriac', '--version'], { cwd: dir });
    if (out.trim() !== version) fail(`npx celeriac --version printed ${JSON.stringify(out.trim())}, expected ${version}`);
    log(`npx celeriac --version: ${version}`);
    writeFileSync(join(dir, 'app.js'), APP_JS);
    writeFileSync(join(dir, 'memory.js'), MEMORY_JS);
    writeFileSync(join(dir, 'send.js'), SEND_JS);
    await checkMemory(dir);
    await checkRedis(dir);
    await checkFlower(dir);
    await checkTypes(dir);
    await checkStarter(dir, tarballs);
    log('passed');
  } finally {
    if (keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`pack-check failed: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
