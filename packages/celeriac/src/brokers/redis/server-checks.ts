/**
 * @module brokers/redis/server-checks
 * What an operator should hear of before trusting a Redis with tasks, read with CONFIG GET
 * at worker start (as BullMQ warns of an evicting Redis):
 * - a `maxmemory-policy` that evicts keys: at maxmemory Redis drops queued messages, leases
 *   or results silently instead of refusing writes (`noeviction` refuses: OOM, which the
 *   worker waits out);
 * - neither AOF nor RDB saving: a restart loses every queued task;
 * - with `waitReplicas`, fewer replicas connected than it asks for (INFO replication): every
 *   send would wait out `waitReplicasTimeoutMs` and fail (redis/replicas.ts replicaWarning).
 * Where CONFIG is not allowed (an ACL without it, a managed Redis that renamed it) there is
 * nothing to read and nothing is said.
 */

/** The CONFIG GET parameters the checks read. */
export const CHECKED_PARAMETERS = ['maxmemory-policy', 'appendonly', 'save'] as const;

/** The warnings `config` (CONFIG GET's reply for {@link CHECKED_PARAMETERS}) calls for. */
export function serverConfigWarnings(config: Readonly<Record<string, string | undefined>>, where: string): string[] {
  const warnings: string[] = [];
  const policy = config['maxmemory-policy'];
  if (policy !== undefined && policy !== 'noeviction') {
    const which = policy.startsWith('volatile-') ? 'keys that have a TTL (on a shared Redis: stored results, revokes)' : 'any key, queued messages included';
    warnings.push(`broker Redis ${where} has maxmemory-policy ${policy}: at maxmemory it evicts ${which} instead of refusing writes; set maxmemory-policy noeviction (docs/delivery-guarantees.md)`);
  }
  const aof = config['appendonly'];
  const save = config['save'];
  if (aof === 'no' && save !== undefined && save.trim() === '') {
    warnings.push(`broker Redis ${where} saves nothing (appendonly no, save ""): a restart of it loses every queued task; turn on appendonly yes (docs/delivery-guarantees.md)`);
  }
  return warnings;
}
