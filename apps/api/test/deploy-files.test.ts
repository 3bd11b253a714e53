/**
 * The Dockerfile and docker-compose.yml, checked without a Docker engine (none runs here):
 * the compose file's structure (private network, password, healthchecks, replicas, secrets
 * only from .env), and the environment it gives each role passes the app's own settings
 * check, so the containers would start; the Dockerfile is multi-stage and runs as non-root.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadSettings, type Role } from '../src/settings.js';

const read = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  networks?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
}

/** Substitutes `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$` as compose does, from `vars`. */
function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (all: string, name: string, op: string | undefined, arg: string) => {
    if (all === '$$') return '$';
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (op === '-') return arg;
    throw new Error(`${name} is required: ${arg}`);
  });
}

describe('docker-compose.yml', () => {
  const raw = read('docker-compose.yml');
  const secrets = { REDIS_PASSWORD: 'r-secret', POSTGRES_PASSWORD: 'p-secret', FLOWER_BASIC_AUTH: 'admin:f-secret' };
  const doc = parse(substitute(raw, secrets), { merge: true }) as { services: Record<string, Service>; networks: Record<string, { internal?: boolean }> };
  const services = doc.services;

  it('refuses to start without the secrets, which only .env provides', () => {
    expect(() => substitute(raw, {})).toThrow(/REDIS_PASSWORD is required/);
    expect(() => substitute(raw, { REDIS_PASSWORD: 'r', POSTGRES_PASSWORD: 'p' })).toThrow(/FLOWER_BASIC_AUTH is required/);
    // No key that names a secret has a literal value.
    expect(raw).not.toMatch(/^\s*\w*(PASSWORD|SECRET)\w*:\s*(?!\$\{)\S/m);
  });

  it('runs Redis with a password and Postgres on an internal network, publishing nothing', () => {
    expect(doc.networks['backend']?.internal).toBe(true);
    for (const name of ['redis', 'postgres']) {
      expect(services[name]?.networks).toEqual(['backend']);
      expect(services[name]?.ports).toBeUndefined();
    }
    expect(services['redis']?.command?.join(' ')).toContain('--requirepass "$REDIS_PASSWORD"');
  });

  it('has API, scalable workers, beat and the dashboard from one image, each with a health check', () => {
    expect(services['api']?.ports).toEqual(['8000:8000']);
    expect(services['flower']?.ports).toEqual(['5555:5555']);
    expect(services['worker']?.deploy?.replicas).toBe(2);
    for (const [name, role] of [['api', 'api'], ['worker', 'worker'], ['beat', 'beat'], ['flower', 'flower']] as const) {
      const s = services[name];
      expect(s?.image).toBe('celeriac-app:latest');
      expect(s?.command).toEqual([role]);
      expect(s?.healthcheck?.test).toEqual(['CMD', 'node', '--import', 'tsx', 'src/healthcheck.ts', role]);
      expect(s?.depends_on).toEqual({ redis: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } });
    }
    for (const name of ['redis', 'postgres']) expect(services[name]?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it('gives each role an environment that passes the app\'s own settings check', () => {
    for (const [name, role] of [['api', 'api'], ['worker', 'worker'], ['beat', 'beat'], ['flower', 'flower']] as const) {
      const env = services[name]?.environment ?? {};
      const s = loadSettings(env, role as Role);
      expect(s.brokerUrl).toBe('redis://:r-secret@redis:6379/0');
      expect(s.redisUrl).toBe('redis://:r-secret@redis:6379/1');
      expect(s.databaseUrl).toBe('postgres://todos:p-secret@postgres:5432/todos');
      expect(s.exportDir).toBe('/data/exports');
    }
    expect(loadSettings(services['api']?.environment ?? {}, 'api')).toMatchObject({ apiHost: '0.0.0.0', apiPort: 8000 });
    expect(loadSettings(services['flower']?.environment ?? {}, 'flower')).toMatchObject({ apiHost: '0.0.0.0', flowerPort: 5555, flowerBasicAuth: ['admin:f-secret'] });
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');

  it('builds in one stage and runs from another, as a non-root user, with a health check', () => {
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(text).toMatch(/^COPY --from=build /m);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/^HEALTHCHECK /m);
    expect(text).toMatch(/^ENTRYPOINT \["node", "--import", "tsx", "src\/main\.ts"\]$/m);
  });

  it('leaves secrets and local state out of the build context', () => {
    const ignore = readFileSync(new URL('../../../.dockerignore', import.meta.url), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/.env', '**/node_modules', 'apps/api/.data', '.git']));
  });
});
