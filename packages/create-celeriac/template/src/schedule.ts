/** Periodic tasks, run by `npm run beat` (any number of beats may run: one sends). */
import { crontab, every } from 'celeriac/beat';

export const beatSchedule = {
  heartbeat: { task: 'tasks.heartbeat', schedule: every(60) },
  'nightly-add': { task: 'tasks.add', schedule: crontab({ minute: '0', hour: '3' }), args: [1, 2] },
};
