#!/usr/bin/env node
// The `celeriac` command. When tsx (an optional peer dependency) is installed it is registered
// first, so `-A ./app.ts` loads without a build step; compiled apps (`-A ./dist/app.js`) need
// neither tsx nor esbuild. Without tsx a .ts module fails to load with an error saying so.
import { existsSync } from 'node:fs';

try {
  const { register } = await import('tsx/esm/api');
  register();
} catch (err) {
  // Only "tsx is not installed" is expected; anything else is a real failure.
  if (!(err?.code === 'ERR_MODULE_NOT_FOUND' && /['"]tsx['"]/.test(String(err.message)))) throw err;
}
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('celeriac: dist/ is missing; run `npm run build` in the celeriac package first.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv, {
  io: { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), cwd: process.cwd() },
});
process.exitCode = code;
// Adapters unref their timers, but a user's module may hold handles open; the command is done.
setImmediate(() => process.exit(code));
