/**
 * Whether Debian's Python Celery (the interop oracle, /usr/bin/python3) is installed. Under CI
 * a missing one fails the tests; locally they are skipped with a message.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// Where Debian's packages put them: finding both costs no Python start (~0.25 CPU-s in each of
// the dozen files that ask). Elsewhere the interpreter itself is asked.
const DEBIAN_PACKAGES = ['celery', 'redis'].map((name) => `/usr/lib/python3/dist-packages/${name}/__init__.py`);

function pythonCeleryAvailable(): boolean {
  if (DEBIAN_PACKAGES.every((file) => existsSync(file))) return true;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import celery, redis'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Whether to run Python interop tests; throws under CI when Python Celery is missing. */
export function shouldRunPythonTests(what: string): boolean {
  if (pythonCeleryAvailable()) return true;
  const message = `${what}: Python Celery is not installed (apt-get install python3-celery python3-redis python3-amqp)`;
  if (process.env['CI'] === 'true') throw new Error(`${message}; required under CI`);
  console.warn(`[skip] ${message}`);
  return false;
}
