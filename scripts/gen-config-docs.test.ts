import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../packages/celeriac/src/core/settings.ts';
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
});
