#!/usr/bin/env node
// Runs several npm scripts at once and fails if any of them fails. `npm test` runs lint and
// typecheck beside the tests: each of the two is mostly one busy core for ~25 s, and the tests
// leave the CPU idle part of the time (they wait on Redis, RabbitMQ, Python and child
// processes), so side by side the whole ends sooner than one after the other.
// Each script's output is held and printed in one piece when it ends, so outputs never
// interleave; the scripts after `--live` print as they go instead (one of them, the tests, so
// progress shows).
//
//   node scripts/run-all.mjs lint typecheck --live test:vitest
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const liveAt = args.indexOf('--live');
const held = liveAt === -1 ? args : args.slice(0, liveAt);
const live = liveAt === -1 ? [] : args.slice(liveAt + 1);
if (held.length + live.length === 0 || live.includes('--live')) {
  process.stderr.write('usage: node scripts/run-all.mjs <npm script>... [--live <npm script>...]\n');
  process.exit(2);
}

const run = (name, streamed) =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('npm', ['run', '--silent', name], { stdio: ['ignore', streamed ? 'inherit' : 'pipe', streamed ? 'inherit' : 'pipe'] });
    const chunks = [];
    child.stdout?.on('data', (c) => chunks.push(c));
    child.stderr?.on('data', (c) => chunks.push(c));
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

const results = await Promise.all([...held.map((n) => run(n, false)), ...live.map((n) => run(n, true))]);
process.exit(results.every(Boolean) ? 0 : 1);
