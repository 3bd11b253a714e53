#!/usr/bin/env node
// The `celeriac` command. tsx is registered first so `-A ./app.ts` loads without a build step.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
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
