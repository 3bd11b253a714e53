import { describe, expect, it } from 'vitest';
import { cpuTicks, quietVerdict, renderSteadiness, spreadOf, stealShare, timeLoop, type Steadiness, type SteadinessCheck } from './steadiness.js';

const check = (loopMs: number, before = "Celeriac's round 1", atSec = 1): SteadinessCheck => ({ atSec, before, loopMs });

describe('bench steadiness checks', () => {
  it('times the loop, a longer one taking longer', () => {
    const small = timeLoop(10_000);
    const large = timeLoop(2_000_000);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
  });

  it('reads steal from the cpu line of /proc/stat, and nothing from a garbled one', () => {
    const at = (steal: number, idle: number) => `cpu  100 0 50 ${idle} 0 0 0 ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n`;
    const from = cpuTicks(at(10, 1000));
    const to = cpuTicks(at(30, 1180));
    expect(from).toEqual({ steal: 10, total: 1160 });
    expect(stealShare(from, to)).toBeCloseTo(10, 5);
    expect(cpuTicks('cpu0 1 2 3\n')).toBeNull();
    expect(cpuTicks('cpu  1 2 x 4 5 6 7 8\n')).toBeNull();
    expect(stealShare(null, to)).toBeNull();
    expect(stealShare(to, from)).toBeNull();
  });

  it('gives fastest, median, slowest and their ratio', () => {
    expect(spreadOf([12, 10, 15, 11])).toEqual({ min: 10, median: 11, max: 15, spread: 1.5 });
    expect(spreadOf([])).toBeNull();
  });

  it('calls a run quiet only when the loop kept its speed and little was stolen', () => {
    expect(quietVerdict({ checks: [check(10), check(11), check(12.4)], stealPct: 0.5 })).toEqual({ quiet: true, why: '' });
    expect(quietVerdict({ checks: [check(10), check(13)], stealPct: 0 })).toEqual({ quiet: false, why: "the loop's slowest check took 1.30x its fastest" });
    expect(quietVerdict({ checks: [check(10), check(10)], stealPct: 7.25 })?.why).toBe('the hypervisor stole 7.3% of the CPU');
    expect(quietVerdict({ checks: [check(10), check(20)], stealPct: 3 })?.why).toBe("the loop's slowest check took 2.00x its fastest; the hypervisor stole 3.0% of the CPU");
    expect(quietVerdict({ checks: [check(10)], stealPct: 0 })).toBeNull();
  });

  it('reports the range, the slowest check and the verdict', () => {
    const s: Steadiness = { checks: [check(10, "BullMQ's round 1", 3), check(14, "Celeriac's round 3", 120.4), check(10.5, 'the end of the run', 300)], stealPct: 0.04 };
    const out = renderSteadiness(s);
    expect(out?.summary).toBe(
      "Machine steadiness (bench/lib/steadiness.ts: a fixed loop timed 3 times, before every peer's round): 10.0-14.0 ms (median 10.5, 1.40x), the slowest before Celeriac's round 3, 120 s in; CPU steal 0.0% of the run.",
    );
    expect(out?.verdict).toMatch(/^⚠️ the machine's speed moved during the run: the loop's slowest check took 1\.40x its fastest \(steady: the slowest check within 1\.25x/);
    expect(renderSteadiness({ checks: [check(10), check(11)], stealPct: null })?.verdict).toMatch(/^✅ the machine kept its speed through the run/);
    expect(renderSteadiness({ checks: [check(10)], stealPct: null })?.verdict).toBe('Too few steadiness checks to say whether the machine kept its speed.');
    expect(renderSteadiness({ checks: [], stealPct: null })).toBeNull();
    expect(renderSteadiness(undefined)).toBeNull();
  });
});
