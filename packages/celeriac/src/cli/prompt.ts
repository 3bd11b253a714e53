/**
 * @module cli/prompt
 * Yes/no confirmation for destructive commands (`celeriac purge`), as click's `confirm`:
 * `[y/N]`, empty means no; reads the injected `io.prompt` or, by default, one line of stdin.
 */
import { createInterface } from 'node:readline';
import type { CliIo } from './io.js';

/** Reads one line of stdin after writing `question` to stderr; null when stdin ends first. */
export function promptStdin(question: string): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
    let answered = false;
    process.stderr.write(question);
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}

/** Asks `question [y/N]: `; true only for y/yes (any case). */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  const answer = await (io.prompt ?? promptStdin)(`${question} [y/N]: `);
  return answer !== null && ['y', 'yes'].includes(answer.trim().toLowerCase());
}
