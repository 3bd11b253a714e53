import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The tests run the worker in-process on memory://, whatever the shell's environment says;
    // CELERIAC_LOG_LEVEL=info (here) shows the worker's lines.
    env: { CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERIAC_LOG_LEVEL: 'silent' },
  },
});
