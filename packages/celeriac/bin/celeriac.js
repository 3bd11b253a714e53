#!/usr/bin/env node
// The `celeriac` command. When tsx (an optional peer dependency) is installed it is registered
// just before a TypeScript module loads (`-A ./app.ts`), so such an app loads without a build
// step; compiled apps (`-A ./dist/app.js`) and commands without one (`celeriac -b <url> flower`)
// never start tsx's loader thread (~35 MB) and need neither tsx nor esbuild. Without tsx a .ts
// module fails to load with an error saying so.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The celeriac package the app's project installs, when it is another copy than this one (a
 * global install, `npx` from elsewhere, another project's bin): resolved from the directory of
 * `-A`'s module, else the working directory. That copy's command runs instead, so the app and
 * the worker share one copy of the library, as eslint or gulp hand over to the local install.
 * Null when the project has none or has this one.
 */
function projectCopy(argv, cwd) {
  let spec;
  for (let i = 2; i < argv.length && argv[i] !== '--'; i++) {
    const a = argv[i];
    if (a === '-A' || a === '--app') spec = argv[i + 1];
    else if (a.startsWith('--app=')) spec = a.slice(6);
    else if (/^-A./.test(a)) spec = a.slice(2).replace(/^=/, '');
  }
  const module = spec === undefined ? undefined : resolve(cwd, spec.replace(/:[\w.]+$/, ''));
  const from = module !== undefined && existsSync(module) ? dirname(module) : cwd;
  try {
    const theirs = realpathSync(dirname(createRequire(join(from, 'noop.js')).resolve('celeriac/package.json')));
    const ours = realpathSync(fileURLToPath(new URL('..', import.meta.url)));
    return theirs !== ours && existsSync(join(theirs, 'bin', 'celeriac.js')) ? theirs : null;
  } catch {
    return null;
  }
}

const local = projectCopy(process.argv, process.cwd());
// The project's copy runs the command (its bin finds itself, so it does not hand over again).
if (local !== null) await import(pathToFileURL(join(local, 'bin', 'celeriac.js')).href);
else await run();

async function run() {
  let tsx;
  const beforeTypeScript = () =>
    (tsx ??= import('tsx/esm/api').then(
      ({ register }) => void register(),
      (err) => {
        // Only "tsx is not installed" is expected (the import then fails with a clear error);
        // anything else is a real failure.
        if (!(err?.code === 'ERR_MODULE_NOT_FOUND' && /['"]tsx['"]/.test(String(err.message)))) throw err;
      },
    ));
  // A reader that went away (`celeriac inspect stats | head -1`) ends the command quietly, as a
  // Unix tool killed by SIGPIPE does (status 128 + 13), instead of an EPIPE stack: node ignores
  // SIGPIPE, so the write fails with EPIPE instead.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => {
      if (err?.code === 'EPIPE') process.exit(141);
      throw err;
    });
  }
  // With no listener, SIGUSR1 opens node's inspector on 127.0.0.1:9229, where anyone on the
  // machine can run code as this process's user. No celeriac process wants that: the worker and
  // beat answer it with a status line (worker/signals.ts, cli/commands/beat.ts); the other
  // commands say they ignore it.
  process.on('SIGUSR1', () => {
    if (process.listenerCount('SIGUSR1') === 1) process.stderr.write(`celeriac: SIGUSR1 ignored (this command has no status to log; node's inspector stays closed)\n`);
  });
  // `celeriac --version` alone answers from package.json: loading every command for it took a
  // third of a CPU-second. The program's own --version (main.ts) prints the same text.
  if (process.argv.length === 3 && process.argv[2] === '--version') {
    process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
    return;
  }
  const entry = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(entry)) {
    process.stderr.write('celeriac: dist/ is missing; run `npm run build` in the celeriac package first.\n');
    process.exit(1);
  }
  const { main } = await import(entry.href);
  const code = await main(process.argv, {
    io: { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), cwd: process.cwd() },
    beforeTypeScript,
  });
  process.exitCode = code;
  // Output into a pipe is written as the reader takes it: exiting first cut it at the pipe's
  // 64 KiB (`celeriac result <id> | jq`), with exit 0 all the same. A write of nothing calls
  // back once everything before it is written.
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
  // Adapters unref their timers, but a user's module may hold handles open; the command is done.
  setImmediate(() => process.exit(code));
}
