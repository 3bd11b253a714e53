import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PACKAGES, renderReport } from './api-report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('the API report (api-report/)', () => {
  for (const { dir, report } of PACKAGES) {
    it(`${report} is the public surface of ${dir} (after a change to it, run npm run build && npm run api:report, and say it in the CHANGELOG)`, () => {
      expect(readFileSync(join(ROOT, report), 'utf8')).toBe(renderReport(dir));
    }, 60_000);
  }

  it('shows shapes, not only names: a signature, an interface field and a deprecation', () => {
    const text = readFileSync(join(ROOT, 'api-report/celeriac.api.md'), 'utf8');
    expect(text).toContain('function createApp(settings?: Settings, options?: AppOptions) => App');
    expect(text).toMatch(/interface GetOptions \{\n {2}timeoutMs\?: number \| undefined;\n {2}timeout\?: number \| undefined; \/\* deprecated \*\//);
    expect(text).toContain('## celeriac/testing/conformance');
    // The same on every machine: no absolute path of the checkout.
    expect(text).not.toMatch(/import\("\//);
    expect(text).toContain('workerShutdownTimeout?: number | undefined; /* deprecated */');
    // An optional method: it was a blank line (its type, with undefined, has no signature).
    expect(text).toMatch(/interface BeatStore \{[^}]*\n {2}offline\?\(\) => boolean;\n/);
    expect(text).not.toMatch(/\{\n(?: {2}[^\n]+\n)* *\n(?: {2}[^\n]+\n)*\}/);
  });
});
