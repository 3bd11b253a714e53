/**
 * @module seed
 * A little demo data for `npm start`: two users and a few todos (one due soon, one overdue,
 * one done), written only into an empty database.
 */
import type { Runtime } from './runtime.js';

const DAY = 86_400_000;

/** Seeds when there are no users; returns whether it did. */
export async function seedDemoData(rt: Runtime): Promise<boolean> {
  const { total } = await rt.service.listUsers(1, 1);
  if (total > 0) return false;
  const now = rt.clock.now();
  const at = (ms: number) => new Date(now + ms).toISOString();
  const ada = await rt.service.createUser('ada@example.com', 'Ada Lovelace');
  const alan = await rt.service.createUser('alan@example.com', 'Alan Turing');
  await rt.service.createTodo(ada.id, { title: 'Write the analytical engine notes', description: 'Note G', deadline: at(3 * DAY) });
  await rt.service.createTodo(ada.id, { title: 'Reply to Babbage', deadline: at(-2 * DAY) });
  const done = await rt.service.createTodo(ada.id, { title: 'Learn the Jacquard loom' });
  await rt.service.updateTodo(ada.id, done.id, { completed: true });
  await rt.service.createTodo(alan.id, { title: 'Draft "On Computable Numbers"', deadline: at(12 * 60 * 60 * 1000) });
  rt.log.info({ users: 2, todos: 4 }, 'demo data seeded');
  return true;
}
