/**
 * @module redis/keys
 * Every Redis key and channel name Celeriac uses, built in this one module: the broker's
 * (brokers/redis/), beat's store (brokers/redis/beat-store.ts) and the result backend's
 * (backends/redis/). Lua scripts receive names as KEYS/ARGV; the one script that derives
 * names from data found in Redis (restore-stale.lua: a queue and priority read from a Python
 * worker's unacked entry) gets them as the template of {@link BrokerKeys.restoreTemplate},
 * and test/redis/key-parity.test.ts checks that what it builds equals what this module builds.
 *
 * | names | whose | prefix |
 * |---|---|---|
 * | `<queue>`, `<queue>␆␖3/6/9`, `_kombu.binding.<exchange>`, `unacked`, `unacked_index`, `unacked_mutex`; channels `/<db>.<exchange>[/<routing key>]` | kombu's (docs/protocol.md §2) | broker |
 * | `celeriac.delayed`, `.leases`, `.lease.data`, `.setaside`, `.setaside.bytes`, `.deliveries`, `.started`, `.promoters`, `.promote.claim`, `.running`, `.running.walk`, `.beat.*`, `.bell.<queue>`, `.bell~<consumer id>`; channels `celeriac.wake.<queue>` (`celeriac.wake.<db>.<queue>` past db 0) | Celeriac's, beside kombu's | broker |
 * | `celery-task-meta-<id>` (also its channel), `celery-taskset-meta-<gid>` and its `.j/.t/.s` | Celery's (§3) | backend |
 * | `celeriac:revoked`, `celeriac:rate:<key>`, `celeriac:running`, `celeriac:running.holders`; channel `celeriac:revoke-notices` (`celeriac:revoke-notices:<db>` past db 0) | Celeriac's, beside Celery's | backend |
 *
 * One prefix mechanism: every name is `prefix + name`. The broker's prefix is kombu's
 * `global_keyprefix` from the broker URL (kombu puts it on every broker key and channel, never
 * on binding-set members nor on result keys, §2.8); the backend's is its `keyPrefix` option:
 * empty by default, as Celery's result keys, or `global_keyprefix` from the app's
 * `resultBackendTransportOptions` as Celery 5.3+ reads it from `result_backend_transport_options`
 * ({@link resultKeyPrefix}: `_` added unless it ends in one of `:_-.`).
 *
 * kombu's and Celery's names are theirs and must not change (Python workers share them). Ours
 * keep the separator they were released with, `celeriac.` beside the broker's names and
 * `celeriac:` beside the backend's: renaming a live key would strand delayed messages and
 * forget revokes during a rolling upgrade.
 */

/**
 * The result backend's key prefix for a `global_keyprefix` in `resultBackendTransportOptions`,
 * as Celery 5.3+ builds it (`BaseKeyValueStoreBackend._add_global_keyprefix`): the value, with
 * `_` appended unless it ends in `:`, `_`, `-` or `.`; '' for none. Celery puts it before
 * `celery-task-meta-`, `celery-taskset-meta-` (and so the chord keys) and the task's channel.
 */
export function resultKeyPrefix(globalKeyprefix: string | undefined): string {
  if (globalKeyprefix === undefined || globalKeyprefix === '') return '';
  return ':_-.'.includes(globalKeyprefix.slice(-1)) ? globalKeyprefix : `${globalKeyprefix}_`;
}

/** kombu's separator between a queue name and its priority step, and inside binding members. */
export const SEP = '\x06\x16';

/** kombu's `priority_steps`: one list per step, step 0 being the bare queue name. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** One of {@link PRIORITY_STEPS}. */
export type PriorityStep = (typeof PRIORITY_STEPS)[number];

/**
 * The step a priority falls in: clamped to 0..9, then the largest step not above it
 * (kombu's `_get_message_priority` + `priority()`). Non-numbers count as 0.
 */
export function stepOf(priority: number | undefined): PriorityStep {
  const p = typeof priority === 'number' && Number.isFinite(priority) ? Math.min(9, Math.max(0, Math.trunc(priority))) : 0;
  let step: PriorityStep = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

/**
 * The binding-set member kombu writes for a queue bound with `routingKey`:
 * `<routing_key>␆␖<pattern>␆␖<queue>` with an empty pattern (direct binding). Unprefixed.
 */
export function bindingMember(routingKey: string, queue: string): string {
  return `${routingKey}${SEP}${SEP}${queue}`;
}

/** Splits a binding-set member into routing key and queue; undefined when malformed. */
export function parseBindingMember(member: string): { routingKey: string; queue: string } | undefined {
  const parts = member.split(SEP);
  if (parts.length !== 3) return undefined;
  return { routingKey: parts[0] as string, queue: parts[2] as string };
}

/** A SCAN pattern matching every name under `prefix` (glob characters escaped). */
export function scanPattern(prefix: string): string {
  return `${escapeGlob(prefix)}*`;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The pieces restore-stale.lua builds queue and binding names from (its ARGV[6..]). */
export interface RestoreTemplate {
  /** Put before a queue name (kombu's `global_keyprefix`). */
  readonly queuePrefix: string;
  /** Put before an exchange name: `<prefix>_kombu.binding.`. */
  readonly bindingPrefix: string;
  /** The separator inside binding members. */
  readonly sep: string;
  /** Put after the queue name, by priority 0..9 (10 entries): '' or `␆␖<step>`. */
  readonly bucketSuffixes: readonly string[];
}

/** The keys of beat's store (all ours), under the broker's prefix: one beat group per prefix. */
export interface BeatKeys {
  /** String: the current leader's fencing token, with a PX expiry (the lease). */
  readonly lease: string;
  /** Counter: the last token number handed out (tokens only grow). */
  readonly epoch: string;
  /** Hash: entry name -> run state JSON `{lastRunAt, totalRunCount}`. */
  readonly state: string;
  /** Hash: entry name -> dynamic entry definition JSON. */
  readonly entries: string;
  /** Set: names of paused entries. */
  readonly paused: string;
  /** Counter: version of the dynamic entries, bumped on every change. */
  readonly version: string;
}

/** The broker's names (and beat's) under one `global_keyprefix`. */
export class BrokerKeys {
  /** kombu's ack bookkeeping: hash delivery_tag -> `[envelope, exchange, routing_key]`. */
  readonly unacked: string;
  /** kombu's ack bookkeeping: zset delivery_tag scored by delivery time (epoch seconds). */
  readonly unackedIndex: string;
  /** kombu's restore-sweep lock (SET NX PX, compare-and-delete release). */
  readonly unackedMutex: string;
  /** Ours: zset of `[bucketKey, envelope]` JSON members scored by due time (epoch ms). */
  readonly delayed: string;
  /** Ours: zset delivery_tag -> lease expiry (epoch ms) of deliveries held by Celeriac consumers. */
  readonly leases: string;
  /** Ours: hash delivery_tag -> `<token> <bucketKey>`: who holds the lease and where it came from. */
  readonly leaseData: string;
  /** Ours: list of set-aside records of malformed messages `{raw, queue, reason, at, category}`, oldest first. */
  readonly setAside: string;
  /** Ours: string, the total length of {@link setAside}'s records (its byte bound). */
  readonly setAsideBytes: string;
  /** Ours: list of dead-lettered tasks' records (the set-aside store's other part, with its own quota). */
  readonly deadLetters: string;
  /** Ours: string, the total length of {@link deadLetters}' records. */
  readonly deadLettersBytes: string;
  /**
   * Ours: hash delivery_tag -> how many deliveries of that message were given back so far
   * (lease recovery, requeue, worker-side redelivery), so the count survives the worker that
   * made it; dropped when the message is acked or set aside, expiring as a whole when idle.
   */
  readonly deliveries: string;
  /**
   * Ours: hash delivery_tag -> lease token, for a message given back before whose task started
   * under that holding (count-start.lua): its holder's death counts against it alone.
   */
  readonly started: string;
  /**
   * Ours: zset broker id -> presence expiry (epoch ms) of the consuming Celeriac brokers, which
   * promote due ETA messages. While it has a live member, ETA publishes go to {@link delayed}.
   */
  readonly promoters: string;
  /**
   * Ours: string `"<due ms> <broker id>"`, the claim on the earliest delayed message's due time:
   * the promoter that holds it alone waits for that exact time (promote-due.lua).
   */
  readonly promoteClaim: string;
  /**
   * Ours: hash delivery_tag -> JSON `[broker id, queue, envelope, orphaned since ms]` of the
   * early-acked tasks running now (brokers/redis/running.ts), so a dead worker's are reported lost.
   */
  readonly running: string;
  /** Ours: string, where the fleet's walk over {@link running} for lost tasks stopped (take-lost-tasks.lua KEYS[4]). */
  readonly runningWalk: string;
  /** Beat's store. */
  readonly beat: BeatKeys;

  constructor(
    /** kombu's `global_keyprefix` ('' for none). */
    readonly prefix: string = '',
    /** The broker URL's db number: part of kombu's fanout channel names (§2.5). */
    readonly db: number = 0,
  ) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
    this.delayed = `${prefix}celeriac.delayed`;
    this.leases = `${prefix}celeriac.leases`;
    this.leaseData = `${prefix}celeriac.lease.data`;
    this.setAside = `${prefix}celeriac.setaside`;
    this.setAsideBytes = `${prefix}celeriac.setaside.bytes`;
    this.deadLetters = `${prefix}celeriac.deadletters`;
    this.deadLettersBytes = `${prefix}celeriac.deadletters.bytes`;
    this.deliveries = `${prefix}celeriac.deliveries`;
    this.started = `${prefix}celeriac.started`;
    this.promoters = `${prefix}celeriac.promoters`;
    this.promoteClaim = `${prefix}celeriac.promote.claim`;
    this.running = `${prefix}celeriac.running`;
    this.runningWalk = `${prefix}celeriac.running.walk`;
    const beat = `${prefix}celeriac.beat.`;
    this.beat = Object.freeze({
      lease: `${beat}lease`,
      epoch: `${beat}epoch`,
      state: `${beat}state`,
      entries: `${beat}entries`,
      paused: `${beat}paused`,
      version: `${beat}version`,
    });
  }

  /** The list of `queue` for a priority step: the bare name for 0, `<queue>␆␖<step>` otherwise. */
  bucket(queue: string, step: PriorityStep): string {
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** The four lists of `queue`, step 0 (served first) to step 9. */
  buckets(queue: string): string[] {
    return PRIORITY_STEPS.map((step) => this.bucket(queue, step));
  }

  /** The queue whose list {@link BrokerKeys.bucket} named `key`, or undefined for another key. */
  queueOfBucket(key: string): string | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const name = key.slice(this.prefix.length);
    const at = name.lastIndexOf(SEP);
    if (at < 0) return name;
    const step = Number(name.slice(at + SEP.length));
    return step === 3 || step === 6 || step === 9 ? name.slice(0, at) : undefined;
  }

  /** kombu's binding set of an exchange: `_kombu.binding.<exchange>`. */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /** What restore-stale.lua needs to build {@link bucket} and {@link binding} names itself. */
  restoreTemplate(): RestoreTemplate {
    const suffixes: string[] = [];
    for (let p = 0; p <= 9; p++) suffixes.push(this.bucket('', stepOf(p)).slice(this.prefix.length));
    return { queuePrefix: this.prefix, bindingPrefix: this.binding(''), sep: SEP, bucketSuffixes: suffixes };
  }

  /**
   * Ours: the doorbell list of `queue`, where a Celeriac publisher pushes a token after a
   * message and idle consumers block (brokers/redis/bell.ts). Tokens are hints, trimmed.
   */
  bell(queue: string): string {
    return `${this.prefix}celeriac.bell.${queue}`;
  }

  /** Ours: the doorbell of one consumer (its id), where it rings itself to end its block early (bell.ts). */
  consumerBell(consumerId: string): string {
    return `${this.prefix}celeriac.bell~${consumerId}`;
  }

  /**
   * Ours: the pub/sub channel a Celeriac publisher pings after pushing to `queue`, so idle
   * Celeriac consumers fetch at once instead of waiting for their next poll.
   */
  wakeChannel(queue: string): string {
    // Channels are global to the server, unlike keys: scoped by db as kombu scopes its fanout
    // channels, so apps on two databases of one Redis never wake each other. Db 0 keeps the
    // name it was released with (a rolling upgrade keeps waking old workers).
    return this.db === 0 ? `${this.prefix}celeriac.wake.${queue}` : `${this.prefix}celeriac.wake.${this.db}.${queue}`;
  }

  /**
   * kombu's pub/sub channel of a fanout exchange (§2.5, default `fanout_prefix` and
   * `fanout_patterns`): `<prefix>/<db>.<exchange>` plus `/<routingKey>` when the key is
   * non-empty, e.g. `/0.celeryev/task.sent`, `/0.celery.pidbox`.
   */
  fanoutChannel(exchange: string, routingKey: string): string {
    const base = `${this.prefix}/${this.db}.${exchange}`;
    return routingKey === '' ? base : `${base}/${routingKey}`;
  }

  /**
   * The PSUBSCRIBE pattern kombu uses for a binding on a fanout exchange: the channel with
   * the binding key's `#` turned into `*` (other glob characters escaped).
   */
  fanoutPattern(exchange: string, bindingKey: string): string {
    const base = `${escapeGlob(this.prefix)}/${this.db}.${escapeGlob(exchange)}`;
    if (bindingKey === '') return base;
    return `${base}/${bindingKey.split('*').map((part) => escapeGlob(part).replaceAll('#', '*')).join('*')}`;
  }

  /** Every key of ours and kombu's under this prefix is matched by this SCAN pattern. */
  scanPattern(): string {
    return scanPattern(this.prefix);
  }
}

/** Celery's prefix of a task's meta key, also the pub/sub channel name. */
export const TASK_META_PREFIX = 'celery-task-meta-';
/** Celery's prefix of a saved group (`GroupResult.save()`). */
export const GROUP_META_PREFIX = 'celery-taskset-meta-';

/** The result backend's names under one prefix (the backend's `keyPrefix`, '' in production). */
export class BackendKeys {
  /** Ours: sorted set of revoked task ids (member: id, score: expiry epoch ms). */
  readonly revoked: string;
  /** Ours: the channel where each revoke is announced to running workers (not a key). */
  readonly revokeChannel: string;
  /** Ours: hash of early-acked tasks running now (`<holder> <tag>` -> JSON [holder, tag, queue, envelope]). */
  readonly running: string;
  /** Ours: sorted set of the holders of {@link running} (member: holder, score: last seen, epoch ms). */
  readonly runningHolders: string;

  constructor(
    /** Put before every name ('' for none). */
    readonly prefix: string = '',
    /** The backend URL's db number: channels are global to the server, so it scopes ours. */
    readonly db: number = 0,
  ) {
    this.revoked = `${prefix}celeriac:revoked`;
    this.running = `${prefix}celeriac:running`;
    this.runningHolders = `${prefix}celeriac:running.holders`;
    // Db 0 keeps the name it was released with; others get their own, so two apps on two
    // databases of one Redis never revoke each other's tasks.
    this.revokeChannel = db === 0 ? `${prefix}celeriac:revoke-notices` : `${prefix}celeriac:revoke-notices:${db}`;
  }

  /** `celery-task-meta-<id>`: the task's meta, and the channel its updates are published on. */
  taskMeta(taskId: string): string {
    return `${this.prefix}${TASK_META_PREFIX}${taskId}`;
  }

  /** `celery-taskset-meta-<gid>`. */
  groupMeta(groupId: string): string {
    return `${this.prefix}${GROUP_META_PREFIX}${groupId}`;
  }

  /** Ours: `celeriac:rate:<key>`, the next free slot of a cluster-wide rate limit. */
  rateLimit(key: string): string {
    return `${this.prefix}celeriac:rate:${key}`;
  }

  /**
   * A chord's join keys (docs/protocol.md §3.7): `.j` sorted set of finished parts, `.t`
   * extra parts counter, `.s` chord size; all under `celery-taskset-meta-<gid>`.
   */
  chord(groupId: string): { join: string; counter: string; size: string } {
    const base = this.groupMeta(groupId);
    return { join: `${base}.j`, counter: `${base}.t`, size: `${base}.s` };
  }
}
