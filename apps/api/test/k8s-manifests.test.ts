/**
 * deploy/kubernetes, checked without a cluster: every role has its Deployment on the app's
 * image with a liveness probe running the image's own health check (or the dashboard's
 * /healthcheck), the environment each role gets passes the app's settings check, a worker
 * pod's grace period covers its warm shutdown (workerShutdownTimeoutSec + 10 s), and both
 * autoscalers (KEDA and an HPA on flower_queue_length) scale the worker Deployment.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createApp } from 'celeriac';
import { loadSettings, type Role } from '../src/settings.js';

interface Container {
  image: string;
  args: string[];
  env?: { name: string; value: string }[];
  envFrom?: { secretRef: { name: string } }[];
  livenessProbe?: { exec?: { command: string[] }; httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}
interface Doc {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { template?: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } }; scaleTargetRef?: { name: string } };
}

const load = (file: string) =>
  parseAllDocuments(readFileSync(new URL(`../../../deploy/kubernetes/${file}`, import.meta.url), 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Doc;
  });

describe('deploy/kubernetes', () => {
  const app = load('app.yaml');
  const deployments = new Map(app.filter((d) => d.kind === 'Deployment').map((d) => [d.metadata.name, d]));
  const container = (name: string) => deployments.get(name)?.spec.template?.spec.containers[0] as Container;
  const env = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  const secrets = { CELERY_BROKER_URL: 'redis://redis:6379/0', CELERY_RESULT_BACKEND: 'redis://redis:6379/0', REDIS_URL: 'redis://redis:6379/1', DATABASE_URL: 'postgres://u:p@pg:5432/todos', FLOWER_BASIC_AUTH: 'admin:x' };

  it('a Deployment per role on the app image, with the health check as liveness probe and a settings check that passes', () => {
    const roles: [string, Role][] = [['celeriac-api', 'api'], ['celeriac-worker', 'worker'], ['celeriac-beat', 'beat'], ['celeriac-dashboard', 'flower']];
    expect([...deployments.keys()].sort()).toEqual(roles.map(([n]) => n).sort());
    for (const [name, role] of roles) {
      const c = container(name);
      expect(c.image).toBe('celeriac-app:latest');
      expect(c.args).toEqual([role]);
      expect(c.envFrom).toEqual([{ secretRef: { name: 'celeriac-app' } }]);
      const probe = c.livenessProbe;
      if (role === 'flower') expect(probe?.httpGet?.path).toBe('/healthcheck');
      else expect(probe?.exec?.command).toEqual(['node', '--import', 'tsx', 'src/healthcheck.ts', role]);
      expect(() => loadSettings({ ...secrets, ...env(c) }, role)).not.toThrow();
    }
    expect(container('celeriac-api').readinessProbe?.httpGet?.path).toBe('/health');
  });

  it("a worker pod's grace period is its warm shutdown bound plus 10 s", () => {
    const c = container('celeriac-worker');
    const timeoutSec = createApp({}, { env: env(c) }).settings.workerShutdownTimeoutSec;
    expect(timeoutSec).toBe(30);
    expect(deployments.get('celeriac-worker')?.spec.template?.spec.terminationGracePeriodSeconds).toBe(timeoutSec + 10);
  });

  it('KEDA and the HPA both scale the worker Deployment, on the queue the worker consumes', () => {
    const [keda, hpa] = load('autoscaling.yaml');
    expect(keda?.kind).toBe('ScaledObject');
    expect(keda?.spec.scaleTargetRef?.name).toBe('celeriac-worker');
    const trigger = (keda?.spec['triggers'] as { type: string; metadata: { listName: string } }[])[0];
    expect(trigger).toMatchObject({ type: 'redis', metadata: { listName: createApp({}, { env: {} }).settings.taskDefaultQueue } });
    expect(hpa?.kind).toBe('HorizontalPodAutoscaler');
    expect(hpa?.spec.scaleTargetRef?.name).toBe('celeriac-worker');
    // Both also scale on the queue's age (the dashboard's flower_queue_age_seconds).
    const age = (keda?.spec['triggers'] as { type: string; metadata: Record<string, string> }[])[1];
    expect(age).toMatchObject({ type: 'prometheus', metadata: { query: 'max(flower_queue_age_seconds{queue="celery"})' } });
    const metrics = hpa?.spec['metrics'] as { external: { metric: { name: string; selector: unknown } } }[];
    expect(metrics.map((m) => m.external.metric.name)).toEqual(['celeriac_queue_length', 'celeriac_queue_age_seconds']);
    expect(metrics.map((m) => m.external.metric.selector)).toEqual([{ matchLabels: { queue: 'celery' } }, { matchLabels: { queue: 'celery' } }]);
  });

  it('on RabbitMQ, KEDA counts the queue the worker consumes over AMQP and scales on its age too', () => {
    const rabbit = load('autoscaling.yaml')[2];
    expect(rabbit?.kind).toBe('ScaledObject');
    expect(rabbit?.spec.scaleTargetRef?.name).toBe('celeriac-worker');
    const triggers = rabbit?.spec['triggers'] as { type: string; metadata: Record<string, string> }[];
    expect(triggers[0]).toMatchObject({ type: 'rabbitmq', metadata: { protocol: 'amqp', mode: 'QueueLength', queueName: createApp({}, { env: {} }).settings.taskDefaultQueue } });
    expect(triggers[1]).toMatchObject({ type: 'prometheus', metadata: { query: 'max(flower_queue_age_seconds{queue="celery"})' } });
  });
});
