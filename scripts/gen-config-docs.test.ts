import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../packages/celeriac/src/core/settings.ts';
import { defaultTransports } from '../packages/celeriac/src/transports.ts';
import { CONFIG_DOC_PATH, renderConfigDoc } from './gen-config-docs.ts';

describe('docs/configuration.md', () => {
  it('is up to date with the settings table (run `npm run docs:config` to regenerate)', () => {
    expect(readFileSync(CONFIG_DOC_PATH, 'utf8')).toBe(renderConfigDoc());
  });

  it('documents every setting with its doc line and environment variables', () => {
    const doc = renderConfigDoc();
    for (const spec of SETTINGS) {
      expect(doc).toContain(`### ${spec.name}\n`);
      expect(doc).toContain(spec.doc);
      for (const env of spec.env) expect(doc).toContain(`\`${env}\``);
    }
  });

  it('lists every URL scheme of the transport table under broker and backend, rpc:// and the AMQP ones included', () => {
    const doc = renderConfigDoc();
    const section = (name: string) => doc.slice(doc.indexOf(`### ${name}\n`), doc.indexOf('\n### ', doc.indexOf(`### ${name}\n`) + 1));
    for (const scheme of Object.keys(defaultTransports.brokers)) expect(section('broker')).toContain(`\`${scheme}://\``);
    for (const scheme of Object.keys(defaultTransports.backends)) expect(section('backend')).toContain(`\`${scheme}://\``);
    expect(section('broker')).toContain('`amqp://`');
    expect(section('backend')).toContain('`rpc://`');
  });
});
