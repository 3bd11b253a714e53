/**
 * Redis commands per task of the worker (lib/command-count.ts), counted by the server, for
 * the working tree and any commits named: what the task's path sends, on any machine, with no
 * noise to speak of. `--budget` prints bench/command-budget.json's `scenarios` as measured (to
 * move the budget, in a commit that says why); bench/guard.ts checks the budget in CI.
 *
 *   npm run build && node --import tsx bench/commands.ts [--rev <git rev>]... [--round-trips 500] [--n 5000] [--concurrency 1,100] [--port 6413] [--budget]
 *
 * Drains at each concurrency, and at the highest a second time with task events on (`-E`).
 * Needs redis-server on PATH: each build is counted on a server of its own on `--port`.
 */
import { parseArgs } from 'node:util';
import { buildRevision, git } from './lib/ab.js';
import { budgetScenarios, COUNT_PLAN, countTable } from './lib/command-budget.js';
import { countCommands, type CommandCountPlan, type DrainConfig, type ScenarioCount } from './lib/command-count.js';

const USAGE = 'usage: node --import tsx bench/commands.ts [--rev <git rev>]... [--round-trips 500] [--n 5000] [--concurrency 1,100] [--port 6413] [--budget]\n';

function whole(flag: string, text: string, least: number): number {
  if (!/^\d+$/.test(text) || Number(text) < least) {
    process.stderr.write(`commands: --${flag} must be a whole number >= ${least}, got ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  }
  return Number(text);
}

/** A drain at each concurrency, then one at the highest with task events on. */
function drainsOf(concurrencies: readonly number[]): DrainConfig[] {
  return [...concurrencies.map((concurrency) => ({ concurrency, events: false })), { concurrency: Math.max(...concurrencies), events: true }];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rev: { type: 'string', multiple: true, default: [] },
      'round-trips': { type: 'string', default: String(COUNT_PLAN.roundTrips) },
      n: { type: 'string', default: String(COUNT_PLAN.drainN) },
      concurrency: { type: 'string', default: '1,100' },
      port: { type: 'string', default: '6413' },
      budget: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const plan: CommandCountPlan = {
    ...COUNT_PLAN,
    roundTrips: whole('round-trips', values['round-trips'], 0),
    drainN: whole('n', values.n, 1),
    drains: drainsOf(values.concurrency.split(',').map((c) => whole('concurrency', c, 1))),
  };
  const port = whole('port', values.port, 1);
  const sides: [string, string | undefined][] = values.rev.map((rev) => [rev, buildRevision(rev)]);
  sides.push([`HEAD ${git('rev-parse', '--short', 'HEAD')}`, undefined]);
  const results: [string, ScenarioCount[]][] = [];
  for (const [name, module] of sides) {
    process.stderr.write(`commands: counting ${name}\n`);
    results.push([name, await countCommands(port, module, plan)]);
  }
  process.stdout.write(`${countTable(results)}\n`);
  if (values.budget) process.stdout.write(`\n${JSON.stringify(budgetScenarios(results.at(-1)![1]), null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
