/**
 * What the tracing hooks on the per-task path cost with no tracer provider registered: ns per
 * call of the check the executor and each send make (`activeTracer`), of the log mixin
 * (`traceFields`) and of the producer-span wrapper over a bare send (`tracePublish`).
 *
 *   npm run build && node --import tsx bench/otel-hooks.ts
 *
 * bench/tracing.ts measures the drains with a provider; this one the case tracing is off.
 */
import { activeTracer, tracePublish, traceFields } from '../packages/celeriac/dist/core/otel.js';

const N = 10_000_000;
let sink = 0;

function time(name: string, fn: () => void): void {
  for (let i = 0; i < 100_000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / N;
  process.stdout.write(`${name}: ${ns.toFixed(1)} ns/call\n`);
}

const send = (): Promise<number> => Promise.resolve(1);
time('activeTracer()', () => {
  if (activeTracer() === undefined) sink++;
});
time('traceFields()', () => {
  sink += Object.keys(traceFields()).length;
});
time('tracePublish([], send)', () => void tracePublish([], send));
time('send() alone', () => void send());
if (sink === 0) process.stdout.write('(no provider expected)\n');
