/**
 * The CI guard on the worker's speed: a short interleaved A/B (lib/ab.ts) of this working
 * tree's build against the baseline commit pinned in bench/baseline.json. It fails (exit 1)
 * when the worker's CPU per task or its drain rate, at concurrency 1 or 100, is more than
 * `--tolerance` (30 %) worse than the baseline's, by the median of the rounds' paired ratios.
 * A failing check is measured again in a second run before it counts, so one disturbed run
 * of a shared machine does not fail CI; a real regression fails both.
 *
 *   npm run build && node --expose-gc --import tsx bench/guard.ts \
 *     [--part checks|speed] [--head <git rev>] [--rounds 3] [--n 10000] [--concurrency 1,100] [--tolerance 0.3]
 *
 * `--head <rev>` measures another commit instead of the working tree (to show what the guard
 * says of it: `--head b290dc7` fails against da2463c). The baseline moves forward only in a
 * commit that says why (bench/baseline.json's `why`). Needs a Redis on 127.0.0.1:6379.
 *
 * First it runs the layout floor (layout-floor.ts) with `--floor-n` tasks (2,000; 0 skips it),
 * a check that the bench still works: the floor drives the broker's own scripts, and a change
 * of their arguments broke it twice unnoticed while CI did not run it. Any error fails the guard.
 * Then it checks that a process reading node-redis's whole command table pays no more than
 * {@link COMMAND_TABLE_BOUND} times node-redis's own cost for Celeriac's stand-in (lib/command-table-cost.ts),
 * and that the worker sends no more Redis commands per task than bench/command-budget.json allows
 * (lib/command-count.ts, counted by a redis-server of its own on `--count-port`, 6413): a count
 * a quiet machine does not move, where one more call per task fails.
 *
 * `--part checks` runs only the first two, which a busy machine does not move (whether the floor
 * runs, a ratio of two CPU costs), and builds the baseline for the A/B; `--part speed` runs the
 * command count and the A/B, which need the machine to themselves (a round trip slowed by load
 * spans more of the broker's timed sweeps: 21.6 commands against 21.1 alone, 2026-11-30). CI runs
 * the checks beside the tests and the rest alone after them (.ci/run); without `--part`, all of it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildRevision, git, runAb, stderrLog, type AbPlan, type Side } from './lib/ab.js';
import { checkBudget, countTable, parseBudget, planFor } from './lib/command-budget.js';
import { countCommands } from './lib/command-count.js';
import { commandTableCost } from './lib/command-table-cost.js';
import { runLayoutFloor } from './lib/floor.js';
import { verdict, type Check } from './lib/guard-verdict.js';

const USAGE = 'usage: node --expose-gc --import tsx bench/guard.ts [--part checks|speed] [--head <git rev>] [--rounds 3] [--n 10000] [--concurrency 1,100] [--tolerance 0.3] [--floor-n 2000] [--count-port 6413]\n';
const { values } = parseArgs({
  options: {
    head: { type: 'string' },
    part: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    n: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '1,100' },
    tolerance: { type: 'string', default: '0.3' },
    'floor-n': { type: 'string', default: '2000' },
    'count-port': { type: 'string', default: '6413' },
  },
});

function fail(message: string): never {
  process.stderr.write(`guard: ${message}\n${USAGE}`);
  process.exit(2);
}
const whole = (flag: string, text: string): number => (/^[1-9]\d*$/.test(text) ? Number(text) : fail(`--${flag} must be a whole number >= 1, got ${JSON.stringify(text)}`));
const tolerance = Number(values.tolerance);
if (!(tolerance > 0 && tolerance < 10)) fail(`--tolerance must be a fraction such as 0.3, got ${JSON.stringify(values.tolerance)}`);
const plan: AbPlan = {
  rounds: whole('rounds', values.rounds),
  n: whole('n', values.n),
  concurrencies: values.concurrency.split(',').map((c) => whole('concurrency', c)),
  roundTrips: 0,
};

const part = values.part;
if (part !== undefined && part !== 'checks' && part !== 'speed') fail(`--part takes checks or speed, got ${JSON.stringify(part)}`);
const floorN = values['floor-n'] === '0' ? 0 : whole('floor-n', values['floor-n']);

const baseline = JSON.parse(readFileSync(new URL('./baseline.json', import.meta.url), 'utf8')) as { commit: string; why: string };
const log = stderrLog('guard');

function table(checks: readonly Check[], sides: readonly Side[]): string {
  const lines = [`| check | ${sides.map((s) => s.name).join(' | ')} | worse by | within ${Math.round(tolerance * 100)} % |`, '| --- | ---: | ---: | ---: | --- |'];
  for (const c of checks) lines.push(`| ${c.name} | ${c.base.toFixed(4)} | ${c.head.toFixed(4)} | ${c.worseBy.toFixed(2)}x | ${c.ok ? 'yes' : 'NO'} |`);
  return lines.join('\n');
}

/** Whether the layout floor ran through (a broken bench fails the guard). */
async function floorWorks(): Promise<boolean> {
  if (floorN === 0) return true;
  log(`layout floor: ${floorN} tasks (a check that it runs, not a measurement)`);
  const floor = await runLayoutFloor({ n: floorN, host: '127.0.0.1', port: 6379, db: 0, timeoutMs: 120_000, loops: 4 });
  if (floor.ok) {
    log(`  ${floor.line}`);
    return true;
  }
  process.stdout.write(`\nbench guard FAILED: the layout floor (bench/layout-floor.ts) does not run: ${floor.why}\n`);
  process.exitCode = 1;
  return false;
}

/**
 * Most a full read of node-redis's command table may cost through Celeriac's stand-in, as a
 * multiple of node-redis's own index (lib/command-table-cost.ts): about 1x when the stand-in is
 * as it should be, over 4x when it was not.
 */
const COMMAND_TABLE_BOUND = 2;

/** Whether a process that reads node-redis's whole command table pays no more than the bound for the stand-in. */
function commandTableWorks(): boolean {
  const cost = commandTableCost();
  log(`command table: import('redis') + createClient() ${cost.real.toFixed(0)} ms CPU with node-redis's index, ${cost.standIn.toFixed(0)} ms with the stand-in (${cost.ratio.toFixed(2)}x)`);
  if (cost.ratio <= COMMAND_TABLE_BOUND) return true;
  process.stdout.write(`\nbench guard FAILED: reading node-redis's whole command table through the stand-in (src/redis/command-table.ts) costs ${cost.ratio.toFixed(2)}x its own index, over ${COMMAND_TABLE_BOUND}x.\n`);
  process.exitCode = 1;
  return false;
}

/** Whether the worker (head's build) sends no more Redis commands per task than the budget allows. */
async function commandsWithinBudget(head: Side): Promise<boolean> {
  const budget = parseBudget(readFileSync(new URL('./command-budget.json', import.meta.url), 'utf8'));
  log(`Redis commands per task of ${head.name}, against bench/command-budget.json (slack ${budget.slack} per task)`);
  const counts = await countCommands(whole('count-port', values['count-port']), head.module, planFor(budget));
  const checks = checkBudget(budget, counts);
  const rows = checks.map((c) => `| ${c.scenario} | ${c.budget.toFixed(2)} | ${c.measured.toFixed(2)} | ${c.ok ? (c.roomy ? 'yes (under by more than the slack: lower the budget)' : 'yes') : 'NO'} |`);
  process.stdout.write(`\nRedis commands per task:\n| scenario | budget | ${head.name} | within |\n| --- | ---: | ---: | --- |\n${rows.join('\n')}\n\n${countTable([[head.name, counts]])}\n`);
  const over = checks.filter((c) => !c.ok);
  if (over.length === 0) return true;
  process.stdout.write(`\nbench guard FAILED: ${over.map((c) => `${c.scenario} sends ${c.measured.toFixed(2)} commands per task, over its budget of ${c.budget} + ${budget.slack}`).join('; ')} (bench/command-budget.json: move it only in a commit that says why).\n`);
  process.exitCode = 1;
  return false;
}

async function main(): Promise<void> {
  const checks = part !== 'speed';
  if (checks && (!(await floorWorks()) || !commandTableWorks())) return;
  const base: Side = { name: `baseline ${baseline.commit.slice(0, 9)}`, module: buildRevision(baseline.commit) };
  const head: Side =
    values.head === undefined
      ? { name: `HEAD ${git('rev-parse', '--short', 'HEAD')}`, module: undefined }
      : { name: `${values.head}`, module: buildRevision(values.head) };
  if (part === 'checks') {
    process.stdout.write(`\nbench guard checks: the layout floor runs and the command table costs what it should.\n`);
    return;
  }
  if (!(await commandsWithinBudget(head))) return;
  const sides = [base, head];
  let failed: string[] = [];
  for (let attempt = 1; attempt <= 2; attempt++) {
    log(`run ${attempt}: ${plan.rounds} interleaved rounds of ${plan.n}-task drains at c=${plan.concurrencies.join(',')}`);
    const samples = await runAb(sides, plan, log);
    const checks = verdict(samples.get(base.name)!, samples.get(head.name)!, plan.concurrencies, tolerance);
    process.stdout.write(`\nbench guard, run ${attempt} (median of ${plan.rounds} paired rounds):\n${table(checks, sides)}\n`);
    const now = checks.filter((c) => !c.ok).map((c) => c.name);
    // A check counts as failed only when it failed in every run so far.
    failed = attempt === 1 ? now : failed.filter((name) => now.includes(name));
    if (failed.length === 0) break;
    if (attempt === 1) log(`${failed.length} check(s) past the tolerance: measuring again before they count`);
  }
  if (failed.length > 0) {
    process.stdout.write(`\nbench guard FAILED: ${failed.join('; ')} worse than the baseline by more than ${Math.round(tolerance * 100)} % in both runs.\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`\nbench guard: the worker is within ${Math.round(tolerance * 100)} % of baseline ${baseline.commit.slice(0, 9)} on every check.\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
