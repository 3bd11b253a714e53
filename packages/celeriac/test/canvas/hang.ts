/**
 * The canvas hang detector: `settle(result, probe)` waits for a workflow's result like
 * `get()`, but when it does not finish in time it fails with what is still pending (every
 * task id reachable from the result: its parents, a group's members, the children each
 * stored result names, the chord parts it knows of, with their states) and the chord
 * counters (size, `.t` additions and recorded parts of every chord seen), instead of a bare
 * timeout. Every canvas test waits through it, so a workflow that hangs says where.
 */
import { createClient } from 'redis';
import { AsyncResult, GroupResult, type App } from '../../src/index.js';
import type { ApplyOptions } from '../../src/core/call-options.js';
import type { ResultBackend } from '../../src/core/spi/backend.js';
import type { ChordPart, ChordJoinStore } from '../../src/core/spi/chord-join.js';
import type { Json, JsonObject, ResultMeta, ResultTuple } from '../../src/protocol/types.js';

/** What one chord did, as seen through the backend this process uses. */
export interface ChordCounters {
  size: number | null;
  parts: string[];
  cleared: boolean;
}

/** Where to look when a workflow does not finish. */
export interface HangProbe {
  backend: ResultBackend;
  /** Chords recorded by {@link watchChords} on this process's backend. */
  chords?: Map<string, ChordCounters>;
  /** Tasks sent by this process (the client and its in-process workers), from {@link watchSends}. */
  sent?: Map<string, string>;
  /** Redis to read the join keys from (`celery-taskset-meta-<gid>.s/.t/.j`), with the backend key prefix. */
  redis?: { url: string; prefix: string };
}

/**
 * Records every chord size set and part added through `backend` (wrapping its methods on
 * this instance), so a hang report can show the counters even on the memory backend.
 */
export function watchChords(backend: ResultBackend): Map<string, ChordCounters> {
  const chords = new Map<string, ChordCounters>();
  const join = backend as unknown as ChordJoinStore;
  const of = (gid: string): ChordCounters => {
    let c = chords.get(gid);
    if (c === undefined) chords.set(gid, (c = { size: null, parts: [], cleared: false }));
    return c;
  };
  const setSize = join.setChordSize.bind(join);
  const addPart = join.addChordPart.bind(join);
  const clear = join.clearChord.bind(join);
  join.setChordSize = (gid, size, options) => {
    of(gid).size = size;
    return setSize(gid, size, options);
  };
  join.addChordPart = (gid: string, part: ChordPart, options) => {
    of(gid).parts.push(`${part.taskId}#${part.index ?? '-'}:${part.state}`);
    return addPart(gid, part, options);
  };
  join.clearChord = (gid) => {
    of(gid).cleared = true;
    return clear(gid);
  };
  return chords;
}

/**
 * Records the id and name of every task `app` sends (its `sendTask`, which canvas and the
 * worker's follow-ups go through), so a hang report names parts nothing else points to.
 */
export function watchSends(app: App): Map<string, string> {
  const sent = new Map<string, string>();
  const send = app.sendTask.bind(app);
  app.sendTask = (async (name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions = {}) => {
    const result = await send(name, args, kwargs, options);
    sent.set(result.id, name);
    return result;
  }) as App['sendTask'];
  return sent;
}

type Waitable = AsyncResult | GroupResult;

/**
 * Waits for `result` (`get()` with propagation) for at most `timeoutMs`; on timeout throws an
 * error listing the pending parts and the chord counters. Other errors pass through.
 */
export async function settle<T = unknown>(result: Waitable, probe: HangProbe, timeoutMs = 15_000): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve('timeout');
    }, timeoutMs);
  });
  const value = (result.get({ signal: controller.signal }) as Promise<unknown>).then((v) => ({ v }));
  try {
    const outcome = await Promise.race([value, timedOut]);
    if (outcome !== 'timeout') return outcome.v as T;
  } finally {
    clearTimeout(timer);
  }
  value.catch(() => undefined);
  throw new Error(`workflow did not finish in ${timeoutMs} ms\n${await hangReport(result, probe)}`);
}

/** What is pending under `result`, and the chord counters: the text {@link settle} fails with. */
export async function hangReport(result: Waitable, probe: HangProbe): Promise<string> {
  const seen = new Map<string, ResultMeta | null>();
  const groups = new Set<string>(probe.chords?.keys() ?? []);
  const queue: string[] = [];
  const push = (r: Waitable | null) => {
    for (let node: Waitable | null = r; node !== null; node = node instanceof AsyncResult ? node.parent : null) {
      if (node instanceof GroupResult) {
        groups.add(node.id);
        queue.push(...node.ids);
        return;
      }
      queue.push(node.id);
    }
  };
  push(result);
  queue.push(...(probe.sent?.keys() ?? []));
  for (const c of probe.chords?.values() ?? []) queue.push(...c.parts.map((p) => p.split('#')[0] as string));
  const addTuple = (t: ResultTuple) => {
    queue.push(t[0][0]);
    for (const m of t[1] ?? []) addTuple(m);
  };
  while (queue.length > 0 && seen.size < 500) {
    const id = queue.shift() as string;
    if (seen.has(id)) continue;
    const meta = await probe.backend.get(id);
    seen.set(id, meta);
    if (meta?.group_id) groups.add(meta.group_id);
    for (const child of meta?.children ?? []) addTuple(child);
  }
  const lines = ['tasks (id state group):'];
  for (const [id, meta] of seen) {
    const name = meta?.name ?? probe.sent?.get(id);
    lines.push(`  ${id} ${meta?.status ?? 'PENDING'}${meta?.group_id ? ` group=${meta.group_id}` : ''}${name ? ` ${name}` : ''}`);
  }
  const pending = [...seen].filter(([, m]) => m === null || !['SUCCESS', 'FAILURE', 'REVOKED'].includes(m.status)).map(([id]) => id);
  lines.unshift(`pending: ${pending.length === 0 ? '(none: every known part ended; a chord join or a follow-up was never sent)' : pending.join(', ')}`);
  lines.push('chords (gid: size +t, parts recorded):');
  const redisCounters = probe.redis === undefined ? new Map<string, string>() : await readJoinKeys(probe.redis, [...groups]);
  for (const gid of groups) {
    const c = probe.chords?.get(gid);
    const here = c === undefined ? '' : ` size=${c.size ?? '?'} parts=[${c.parts.join(', ')}]${c.cleared ? ' cleared' : ''}`;
    const there = redisCounters.get(gid) ?? '';
    if (here !== '' || there !== '') lines.push(`  ${gid}:${here}${there}`);
  }
  return lines.join('\n');
}

async function readJoinKeys(redis: { url: string; prefix: string }, gids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const client = createClient({ url: redis.url });
  await client.connect();
  try {
    for (const gid of gids) {
      const base = `${redis.prefix}celery-taskset-meta-${gid}`;
      const [size, extra, parts] = await Promise.all([client.get(`${base}.s`), client.get(`${base}.t`), client.zCard(`${base}.j`)]);
      if (size !== null || extra !== null || parts > 0) out.set(gid, ` redis: .s=${size ?? '-'} .t=${extra ?? '-'} .j=${parts}`);
    }
  } finally {
    client.destroy();
  }
  return out;
}
