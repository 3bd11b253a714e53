import { describe, expect, it } from 'vitest';
import { MemoryBackend } from './backends/memory/memory-backend.js';
import { MemoryBroker } from './brokers/memory/memory-broker.js';
import { ErrorCodes } from './errors.js';
import { createApp } from './create-app.js';

const adapters = () => ({ broker: new MemoryBroker(), backend: new MemoryBackend() });

describe('createApp', () => {
  it('refuses settings that are not an object; null is none (a number was taken as none, null threw a TypeError)', () => {
    for (const [given, got] of [[5, 'number'], ['memory://', 'string'], [['broker'], 'an array']] as const) {
      expect(() => createApp(given as never, adapters()), String(given)).toThrow(
        expect.objectContaining({ code: ErrorCodes.CONFIG, message: `createApp(): settings must be an object, got ${got}` }),
      );
    }
    expect(createApp(null as never, adapters()).settings.taskDefaultQueue).toBe('celery');
  });
});
