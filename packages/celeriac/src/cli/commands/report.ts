/**
 * @module cli/commands/report
 * `celeriac report`: what a bug report needs, in the layout of `celery report`: software
 * versions, platform, transports, then every setting that differs from its default, with
 * passwords in URLs and values of secret-looking settings masked.
 */
import { release } from 'node:os';
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { SETTINGS } from '../../core/settings.js';
import { redactUrl } from '../../core/transport-table.js';
import { CELERIAC_VERSION } from '../../worker/banner.js';
import type { CliContext } from '../io.js';

const SECRET_NAME = /pass|secret|token|key|auth|credential|signature|private/i;
const MASK = '********';

/** Masks secrets inside a setting value: URL passwords, and values under secret-looking keys. */
export function maskSecrets(name: string, value: unknown): unknown {
  if (SECRET_NAME.test(name)) return value === null || value === undefined || value === '' ? value : MASK;
  if (typeof value === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
  if (Array.isArray(value)) return value.map((v) => maskSecrets('', v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(k, v)]));
  }
  return value;
}

/** The report text for an app. */
export function renderReport(app: App): string {
  const scheme = (url: string) => url.split(':')[0] ?? url;
  const lines = [
    `software -> celeriac:${CELERIAC_VERSION} node:${process.version}`,
    `            v8:${process.versions.v8}`,
    `platform -> system:${process.platform} arch:${process.arch}`,
    `            kernel version:${release()}`,
    `settings -> transport:${scheme(app.settings.broker)} results:${redactUrl(app.settings.backend)}`,
    '',
  ];
  const settings = app.settings as unknown as Record<string, unknown>;
  for (const spec of SETTINGS) {
    const value = settings[spec.name];
    if (JSON.stringify(value) === JSON.stringify(spec.default)) continue;
    lines.push(`${spec.name}: ${JSON.stringify(maskSecrets(spec.name, value))}`);
  }
  // Celery's built-in canvas tasks are on every app; list the user's own.
  const tasks = [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
  lines.push('', `tasks: ${tasks.length === 0 ? '(none registered)' : tasks.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** Registers the command. */
export function registerReport(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('report')
    .description('Print versions and non-default settings (secrets masked) for bug reports.')
    .action(async () => {
      const { app } = await getApp(false);
      ctx.io.out(renderReport(app));
    });
}
