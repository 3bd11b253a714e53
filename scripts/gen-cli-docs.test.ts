import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../packages/celeriac/src/cli/main.ts';
import { REMOTE_COMMANDS } from '../packages/celeriac/src/cli/remote-commands.ts';
import { CLI_DOC_PATH, renderCliDoc } from './gen-cli-docs.ts';

describe('docs/cli-reference.md', () => {
  it('is up to date with the commander definitions (run `npm run docs:cli` to regenerate)', () => {
    expect(readFileSync(CLI_DOC_PATH, 'utf8')).toBe(renderCliDoc());
  });

  it('documents every command, every option and every remote-control command', () => {
    const doc = renderCliDoc();
    const program = buildProgram({ io: { out: () => {}, err: () => {}, cwd: process.cwd() } }, () => {});
    const flags = (f: string) => `\`${f.replaceAll('|', '\\|')}\``;
    for (const option of program.options) expect(doc).toContain(flags(option.flags));
    for (const command of program.commands) {
      expect(doc).toContain(`## \`celeriac ${command.name()}\``);
      // Hidden: the deprecated flags of 0.1 (--shutdown-timeout...), which docs/upgrading.md lists.
      for (const option of command.options.filter((o) => !o.hidden)) expect(doc).toContain(flags(option.flags));
    }
    for (const remote of REMOTE_COMMANDS) expect(doc).toContain(`| \`${remote.name}\` |`);
  });
});
