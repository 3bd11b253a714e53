import { describe, expect, it } from 'vitest';
import { replicaWarning } from './replicas.js';

describe('replicaWarning', () => {
  const info = (connected: number) => `# Replication\r\nrole:master\r\nconnected_slaves:${connected}\r\nmaster_repl_offset:42\r\n`;
  const wait = (waitReplicas: number, waitReplicasTimeoutMs = 1000) => ({ waitReplicas, waitReplicasTimeoutMs });

  it('warns when fewer replicas are connected than sends wait for', () => {
    expect(replicaWarning(info(0), wait(1), 'broker', 'r:6379')).toBe(
      'broker Redis r:6379 has 0 replicas connected, and waitReplicas asks for 1: every send waits 1000 ms for them and fails (brokerTransportOptions; docs/brokers-and-backends.md)',
    );
    expect(replicaWarning(info(1), wait(2, 250), 'broker', 'r:6379')).toMatch(/has 1 replica connected, and waitReplicas asks for 2: every send waits 250 ms/);
  });

  it('says what waits for the result backend: its task states, stored again', () => {
    expect(replicaWarning(info(1), wait(2, 300), 'result backend', 'r:6380')).toBe(
      'result backend Redis r:6380 has 1 replica connected, and waitReplicas asks for 2: every task state waits 300 ms for them, fails and is stored again (resultBackendTransportOptions; docs/brokers-and-backends.md)',
    );
  });

  it('says nothing with enough replicas, with waitReplicas off, or when INFO does not say', () => {
    expect(replicaWarning(info(2), wait(2), 'broker', 'r:6379')).toBeNull();
    expect(replicaWarning(info(0), wait(0), 'result backend', 'r:6379')).toBeNull();
    expect(replicaWarning('', wait(1), 'broker', 'r:6379')).toBeNull();
  });
});
