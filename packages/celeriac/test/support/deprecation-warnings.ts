/**
 * The messages of the DeprecationWarnings Celeriac emits (codes CELERIAC_DEP_*) while `run`
 * runs, in order. Node emits warnings on the next tick, so this waits one turn of the loop.
 */
export async function collectWarnings(run: () => unknown): Promise<string[]> {
  const seen: Error[] = [];
  const onWarning = (w: Error) => seen.push(w);
  process.on('warning', onWarning);
  try {
    await run();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  return seen.filter((w) => /^CELERIAC_DEP_/.test((w as { code?: string }).code ?? '')).map((w) => w.message);
}
