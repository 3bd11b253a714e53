/**
 * The system Chromium that browser tests drive through playwright-core (Debian's `chromium`,
 * or `CELERIAC_TEST_CHROMIUM`): whether a suite can run, and the one way to launch it.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env['CELERIAC_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Whether the browser suite `suite` can run: true with Chromium there; without it, a notice and
 * false, or under CI=true an error (a suite that needs a service fails there, never skips).
 */
export function chromiumThere(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env['CI'] === 'true') throw new Error(`${suite}: no Chromium at ${CHROMIUM} (apt-get install chromium; required under CI)`);
  console.warn(`[skip] ${suite}: no Chromium at ${CHROMIUM}`);
  return false;
}

/** A headless Chromium; the caller closes it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
