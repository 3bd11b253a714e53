#!/usr/bin/env node
// Runs several npm scripts at once and fails if any of them fails: `npm test` uses it to run
// lint and typecheck side by side (each is mostly one busy core) before the tests.
// Each script's output is held and printed in one piece when it ends, so outputs never interleave.
//
//   node scripts/run-all.mjs lint typecheck
import { spawn } from 'node:child_process';

const names = process.argv.slice(2);
if (names.length === 0) {
  process.stderr.write('usage: node scripts/run-all.mjs <npm script> [<npm script>...]\n');
  process.exit(2);
}

const run = (name) =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('npm', ['run', '--silent', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    let ended = false;
    const end = (code, why) => {
      if (ended) return;
      ended = true;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(Buffer.concat(chunks));
      process.stdout.write(`> ${name}: ${why} (${secs} s)\n`);
      resolve(code === 0);
    };
    child.on('error', (err) => end(1, `could not start: ${err.message}`));
    child.on('close', (code, signal) => end(code, signal ? `killed by ${signal}` : `exit ${code}`));
  });

const results = await Promise.all(names.map(run));
process.exit(results.every(Boolean) ? 0 : 1);
