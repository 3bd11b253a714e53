/**
 * @module testing/test-app
 * `createTestApp`: an app for tests of your own tasks. It has its own memory broker and
 * backend (nothing shared with other apps in the process), a fake clock you can advance,
 * and silent logs.
 */
import { pino, type Logger } from 'pino';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import type { App } from '../core/app.js';
import { createApp } from '../create-app.js';
import type { Settings } from '../core/settings.js';
import { FakeClock } from './fake-clock.js';

/** What {@link createTestApp} returns. */
export interface TestApp {
  app: App;
  broker: MemoryBroker;
  backend: MemoryBackend;
  clock: FakeClock;
}

/** Options of {@link createTestApp}. */
export interface TestAppOptions {
  /** Logger; @default a silent pino logger */
  logger?: Logger;
  /** Start time of the fake clock (epoch ms). @default FakeClock's default */
  startMs?: number;
}

/** Creates an isolated app on fresh memory adapters and a fake clock. Env vars are ignored. */
export function createTestApp(settings: Settings = {}, options: TestAppOptions = {}): TestApp {
  const clock = new FakeClock(options.startMs);
  const broker = new MemoryBroker({ clock });
  const backend = new MemoryBackend({ clock });
  const app = createApp(settings, { broker, backend, clock, env: {}, logger: options.logger ?? pino({ level: 'silent' }) });
  return { app, broker, backend, clock };
}
