/**
 * @module bench/lib/command-budget
 * bench/command-budget.json: the most Redis commands per task each scenario of
 * lib/command-count.ts may send, and the check of a count against it (bench/guard.ts). The
 * budget moves only in a commit that says why (its `why`), as bench/baseline.json does.
 */
import type { CommandCountPlan, DrainConfig, ScenarioCount } from './command-count.js';

/** What the guard counts: enough tasks that the maintenance a worker does every few seconds is a rounding error. */
export const COUNT_PLAN: CommandCountPlan = {
  roundTrips: 500,
  warmup: 200,
  drainN: 5000,
  drains: [
    { concurrency: 1, events: false },
    { concurrency: 100, events: false },
    { concurrency: 100, events: true },
  ],
  timeoutMs: 60_000,
};

/** bench/command-budget.json. */
export interface CommandBudget {
  readonly why: string;
  /**
   * How many commands per task past its budget a scenario may go: less than one, so that one
   * more call per task fails, while the wobble of batch sizes and of a worker's timers passes.
   */
  readonly slack: number;
  /** Commands per task (per call for the round trip), by scenario name. */
  readonly scenarios: Readonly<Record<string, number>>;
}

/** One scenario against its budget. */
export interface BudgetCheck {
  readonly scenario: string;
  readonly budget: number;
  readonly measured: number;
  /** Within budget and tolerance. */
  readonly ok: boolean;
  /** Under budget by more than the slack: the budget should come down (a note, never a failure). */
  readonly roomy: boolean;
}

/** Refuses a budget file of another shape, naming what is wrong. */
export function parseBudget(text: string): CommandBudget {
  const b = JSON.parse(text) as Partial<CommandBudget>;
  if (typeof b.why !== 'string' || b.why === '') throw new Error('command budget: `why` must say why the budget is what it is');
  if (typeof b.slack !== 'number' || !(b.slack >= 0 && b.slack < 1)) throw new Error('command budget: `slack` must be a number of commands per task in [0, 1): one more call per task must fail');
  const scenarios = b.scenarios;
  if (typeof scenarios !== 'object' || scenarios === null || Object.keys(scenarios).length === 0) throw new Error('command budget: `scenarios` must name at least one scenario');
  for (const [name, v] of Object.entries(scenarios)) {
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`command budget: scenario ${JSON.stringify(name)} must be a positive number of commands per task`);
  }
  return { why: b.why, slack: b.slack, scenarios };
}

/**
 * Each budgeted scenario against the count: over budget by more than the slack fails; a
 * budgeted scenario that was not measured fails too (a guard that silently checks less is no guard).
 */
export function checkBudget(budget: CommandBudget, counts: readonly ScenarioCount[]): BudgetCheck[] {
  return Object.entries(budget.scenarios).map(([scenario, limit]) => {
    const measured = counts.find((c) => c.scenario === scenario)?.total ?? Number.NaN;
    const ok = measured <= limit + budget.slack;
    return { scenario, budget: limit, measured, ok, roomy: ok && measured < limit - budget.slack };
  });
}

/** The counts `budget` needs: its round trip if it has one, the drains it names. */
export function planFor(budget: CommandBudget): CommandCountPlan {
  const names = Object.keys(budget.scenarios);
  const drains: DrainConfig[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const m = /^drain c=([1-9]\d*)( -E)?$/.exec(name);
    if (m !== null) drains.push({ concurrency: Number(m[1]), events: m[2] !== undefined });
    else if (name !== 'round trip') unknown.push(name);
  }
  if (unknown.length > 0) throw new Error(`command budget: no such scenario ${unknown.map((n) => JSON.stringify(n)).join(', ')} (\`round trip\`, \`drain c=<n>\` or \`drain c=<n> -E\`)`);
  return { ...COUNT_PLAN, roundTrips: names.includes('round trip') ? COUNT_PLAN.roundTrips : 0, drains };
}

/** The measured totals as a budget's `scenarios`, rounded up to a hundredth. */
export function budgetScenarios(counts: readonly ScenarioCount[]): Record<string, number> {
  return Object.fromEntries(counts.map((c) => [c.scenario, Math.ceil(c.total * 100) / 100]));
}

/** A Markdown table: per scenario, the total and each command's share, one column per build. */
export function countTable(results: readonly (readonly [string, readonly ScenarioCount[]])[]): string {
  const lines = [`| commands per task | ${results.map(([name]) => name).join(' | ')} |`, `| --- |${results.map(() => ' ---: |').join('')}`];
  const scenarios = [...new Set(results.flatMap(([, counts]) => counts.map((c) => c.scenario)))];
  for (const scenario of scenarios) {
    const of = results.map(([, counts]) => counts.find((c) => c.scenario === scenario));
    lines.push(`| **${scenario}** | ${of.map((c) => (c === undefined ? '—' : `**${c.total.toFixed(2)}**`)).join(' | ')} |`);
    const names = [...new Set(of.flatMap((c) => [...(c?.byCommand ?? new Map<string, number>())].filter(([, v]) => v >= 0.005).map(([k]) => k)))];
    for (const name of names) lines.push(`| ${scenario}: ${name} | ${of.map((c) => (c?.byCommand.get(name) ?? 0).toFixed(2)).join(' | ')} |`);
  }
  return lines.join('\n');
}
