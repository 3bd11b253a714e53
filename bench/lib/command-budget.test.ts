import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { budgetScenarios, checkBudget, countTable, parseBudget, planFor } from './command-budget.js';
import { countsPerTask, type ScenarioCount } from './command-count.js';

/** INFO commandstats as Redis 7 writes it (the harness's own INFO and CONFIG RESETSTAT included). */
const INFO = [
  '# Commandstats',
  'cmdstat_evalsha:calls=300,usec=9000,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  'cmdstat_set:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0',
  'cmdstat_publish:calls=100,usec=200,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
  'cmdstat_touch:calls=7,usec=20,usec_per_call=2.86,rejected_calls=0,failed_calls=0',
  'cmdstat_config|resetstat:calls=1,usec=80,usec_per_call=80.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=1,usec=30,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');

const count = (scenario: string, total: number): ScenarioCount => ({ scenario, total, byCommand: new Map([['set', total]]) });

describe('command budget', () => {
  it('counts per task every command but the harness’s own, largest first', () => {
    const { total, byCommand } = countsPerTask(INFO, 100);
    expect(total).toBeCloseTo(5);
    expect([...byCommand]).toEqual([
      ['evalsha', 3],
      ['set', 1],
      ['publish', 1],
    ]);
  });

  it('fails one more command per task, passes the wobble within the slack, and fails a budgeted scenario not measured', () => {
    const budget = parseBudget(JSON.stringify({ why: 'test', slack: 0.5, scenarios: { 'round trip': 23, 'drain c=100': 2.2 } }));
    const within = checkBudget(budget, [count('round trip', 23.4), count('drain c=100', 2.2)]);
    expect(within.map((c) => c.ok)).toEqual([true, true]);
    const oneMore = checkBudget(budget, [count('round trip', 24.05), count('drain c=100', 3.2)]);
    expect(oneMore.map((c) => c.ok)).toEqual([false, false]);
    const missing = checkBudget(budget, [count('round trip', 23)]);
    expect(missing.map((c) => c.ok)).toEqual([true, false]);
    // Fewer by more than the slack: passes, and says the budget should come down.
    expect(checkBudget(budget, [count('round trip', 21), count('drain c=100', 2.2)]).map((c) => c.roomy)).toEqual([true, false]);
  });

  it('refuses a budget without a reason, with a slack of a whole command or more, or with an unknown scenario', () => {
    expect(() => parseBudget(JSON.stringify({ why: '', slack: 0.5, scenarios: { 'round trip': 1 } }))).toThrow(/why/);
    expect(() => parseBudget(JSON.stringify({ why: 'x', slack: 1, scenarios: { 'round trip': 1 } }))).toThrow(/slack/);
    expect(() => parseBudget(JSON.stringify({ why: 'x', slack: 0.5, scenarios: {} }))).toThrow(/scenario/);
    expect(() => parseBudget(JSON.stringify({ why: 'x', slack: 0.5, scenarios: { 'round trip': 0 } }))).toThrow(/positive/);
    expect(() => planFor(parseBudget(JSON.stringify({ why: 'x', slack: 0.5, scenarios: { 'drain 100': 2 } })))).toThrow(/no such scenario/);
    expect(() => planFor(parseBudget(JSON.stringify({ why: 'x', slack: 0.5, scenarios: { 'drain c=0': 2 } })))).toThrow(/no such scenario/);
  });

  it('plans the counts the budget names, and the checked-in budget parses', () => {
    const plan = planFor(parseBudget(readFileSync(new URL('../command-budget.json', import.meta.url), 'utf8')));
    expect(plan.roundTrips).toBeGreaterThan(0);
    expect(plan.drains).toContainEqual({ concurrency: 100, events: false });
    expect(planFor(parseBudget(JSON.stringify({ why: 'x', slack: 0.5, scenarios: { 'drain c=1': 10, 'drain c=100 -E': 2.3 } })))).toMatchObject({
      roundTrips: 0,
      drains: [
        { concurrency: 1, events: false },
        { concurrency: 100, events: true },
      ],
    });
  });

  it('writes measured totals as a budget, rounded up, and a table with a column per build', () => {
    expect(budgetScenarios([count('round trip', 23.051), count('drain c=100', 2.17)])).toEqual({ 'round trip': 23.06, 'drain c=100': 2.17 });
    const table = countTable([
      ['old', [count('round trip', 23)]],
      ['new', [count('round trip', 28)]],
    ]);
    expect(table).toContain('| **round trip** | **23.00** | **28.00** |');
    expect(table).toContain('| round trip: set | 23.00 | 28.00 |');
  });
});
