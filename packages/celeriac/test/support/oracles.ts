/**
 * The Python Celery versions the interop suites hold Celeriac against:
 * Debian's Celery 5.2.6 (/usr/bin/python3 with its dist-packages) and Celery 5.6.3 with kombu
 * 5.6.2 (../shared/oracles/celery-5.6, put first on PYTHONPATH so it shadows Debian's).
 *
 * `describeOracles(title, body)` declares the suite once per oracle; each run builds its own
 * fleet, so one Python worker per suite and oracle. Under CI a missing oracle fails the suite;
 * locally it is skipped with a message. `CELERIAC_ORACLES=5.2` (or `5.6`) runs one only.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { shouldRunPythonTests } from './python.js';

/** One Python Celery to test against. */
export interface CeleryOracle {
  /** Short name used in suite titles and `CELERIAC_ORACLES`: `5.2`, `5.6`. */
  readonly name: string;
  /** `celery.__version__` of this oracle. */
  readonly version: string;
  /** Prepended to PYTHONPATH for every Python process of this oracle; none for Debian's. */
  readonly pythonPath?: string;
}

/** Debian's python3-celery. */
export const CELERY_5_2: CeleryOracle = Object.freeze({ name: '5.2', version: '5.2.6' });

/** ../shared beside the repository (the CI layout), where the 5.6 oracle lives. */
const SHARED_ORACLES = fileURLToPath(new URL('../../../../../shared/oracles/', import.meta.url));

/** Celery 5.6.3 + kombu 5.6.2 + billiard 4.2.4 + redis-py 5.2.1, on Debian's Python. */
export const CELERY_5_6: CeleryOracle = Object.freeze({ name: '5.6', version: '5.6.3', pythonPath: `${SHARED_ORACLES}celery-5.6` });

/** Every oracle, oldest first. */
export const ORACLES: readonly CeleryOracle[] = [CELERY_5_2, CELERY_5_6];

/** The environment entries a Python process of `oracle` needs (PYTHONPATH first, or nothing). */
export function oracleEnv(oracle: CeleryOracle | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (!oracle?.pythonPath) return {};
  const rest = base['PYTHONPATH'];
  return { PYTHONPATH: rest ? `${oracle.pythonPath}:${rest}` : oracle.pythonPath };
}

/** Whether the oracle's files are there (Debian's: python3-celery; 5.6: the shared folder). */
function present(oracle: CeleryOracle): boolean {
  return oracle.pythonPath === undefined || existsSync(`${oracle.pythonPath}/celery/__init__.py`);
}

/**
 * The oracles to run `what` against: those named in CELERIAC_ORACLES (default all) that are
 * installed. Under CI a missing one throws; locally it is left out with a message.
 */
export function selectedOracles(what: string, env: NodeJS.ProcessEnv = process.env): CeleryOracle[] {
  if (!shouldRunPythonTests(what)) return [];
  const wanted = env['CELERIAC_ORACLES']?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted?.filter((name) => !ORACLES.some((o) => o.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`CELERIAC_ORACLES names unknown oracles: ${unknown.join(', ')} (known: ${ORACLES.map((o) => o.name).join(', ')})`);
  const out: CeleryOracle[] = [];
  for (const oracle of ORACLES) {
    if (wanted && !wanted.includes(oracle.name)) continue;
    if (present(oracle)) {
      out.push(oracle);
      continue;
    }
    const message = `${what}: the Celery ${oracle.version} oracle is missing (${oracle.pythonPath})`;
    if (env['CI'] === 'true') throw new Error(`${message}; required under CI`);
    console.warn(`[skip] ${message}`);
  }
  return out;
}

/**
 * Declares `body` as a suite once per selected oracle, titled `<title> (Celery <version>)`.
 * `ready` false (a service missing outside CI) declares nothing.
 */
export function describeOracles(title: string, body: (oracle: CeleryOracle) => void, ready = true): void {
  if (!ready) return;
  for (const oracle of selectedOracles(title)) describe(`${title} (Celery ${oracle.version})`, () => body(oracle));
}

/** Declares one test per selected oracle, titled `<title> (Celery <version>)`, as {@link describeOracles}. */
export function itOracles(title: string, body: (oracle: CeleryOracle) => Promise<void>, timeoutMs?: number, ready = true): void {
  if (!ready) return;
  for (const oracle of selectedOracles(title)) it(`${title} (Celery ${oracle.version})`, () => body(oracle), timeoutMs);
}
