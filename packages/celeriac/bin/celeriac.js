#!/usr/bin/env node
// The `celeriac` command. When tsx (an optional peer dependency) is installed it is registered
// just before a TypeScript module loads (`-A ./app.ts`), so such an app loads without a build
// step; compiled apps (`-A ./dist/app.js`) and commands without one (`celeriac -b <url> flower`)
// never start tsx's loader thread (~35 MB) and need neither tsx nor esbuild. Without tsx a .ts
// module fails to load with an error saying so.
import { existsSync } from 'node:fs';

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
// Adapters unref their timers, but a user's module may hold handles open; the command is done.
setImmediate(() => process.exit(code));
