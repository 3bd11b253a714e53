/**
 * @module cli/events-view
 * The live terminal view of `celeriac events`: workers (online or not, by heartbeat) and
 * the latest tasks, drawn from a {@link ClusterState}. Plain ANSI (colours and a screen
 * clear), no TUI library: the command redraws the whole screen at a fixed rate.
 */
import type { ClusterState, TaskRecord, WorkerRecord } from '../monitor/cluster-state.js';

/** How to draw one frame. */
export interface ViewOptions {
  /** Terminal columns; longer lines are cut. */
  width: number;
  /** Terminal rows; the task list is cut to fit. */
  height: number;
  /** First line (what is being watched). */
  title: string;
  /** Use ANSI colours. */
  color: boolean;
}

const STATE_COLORS: Readonly<Record<string, number>> = {
  SUCCESS: 32, FAILURE: 31, REVOKED: 35, REJECTED: 35, RETRY: 33, STARTED: 36, RECEIVED: 34, PENDING: 37,
};

/** ANSI: move home and clear the screen. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

function paint(text: string, code: number | undefined, on: boolean): string {
  return on && code !== undefined ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** Cuts a line to `width` visible characters (colour codes do not count). */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end > i) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

function clockTime(ms: number | null): string {
  if (ms === null) return '--:--:--';
  return new Date(ms).toISOString().slice(11, 19);
}

function workerLine(state: ClusterState, w: WorkerRecord, now: number, color: boolean): string {
  const online = state.isOnline(w, now);
  const mark = online ? paint('●', 32, color) : paint('○', 31, color);
  const last = w.heartbeats.at(-1) ?? w.offlineAt;
  const parts = [
    `${mark} ${w.hostname.padEnd(28)}`,
    online ? paint('online ', 32, color) : paint('offline', 31, color),
    `active ${String(w.active ?? '-').padStart(3)}`,
    `processed ${String(w.processed ?? '-').padStart(6)}`,
    w.loadavg !== null ? `load ${w.loadavg.map((n) => n.toFixed(2)).join(' ')}` : '',
    w.swIdent !== null ? `${w.swIdent} ${w.swVer ?? ''}`.trim() : '',
    last !== undefined && last !== null ? `(heard ${ago(now - last)})` : '',
  ];
  return `  ${parts.filter(Boolean).join('  ')}`;
}

function taskLine(t: TaskRecord, color: boolean): string {
  const detail = t.state === 'SUCCESS' ? `result=${t.result ?? ''}` : t.exception !== null ? `exc=${t.exception}` : `args=${t.args ?? ''} kwargs=${t.kwargs ?? ''}`;
  const runtime = t.runtime !== null ? `${t.runtime.toFixed(3)}s` : '';
  return `  ${t.uuid.padEnd(36)}  ${(t.name ?? '?').padEnd(24)}  ${paint(t.state.padEnd(8), STATE_COLORS[t.state], color)}  ${(t.worker ?? '').padEnd(20)}  ${clockTime(t.times.received ?? t.times.sent ?? t.timestamp)}  ${runtime.padStart(8)}  ${detail}`;
}

/** Draws one frame as text lines (without the screen clear). */
export function renderClusterView(state: ClusterState, now: number, options: ViewOptions): string {
  const workers = state.workers();
  const online = workers.filter((w) => state.isOnline(w, now)).length;
  const counts = Object.entries(state.taskCountsByState())
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([s, n]) => `${paint(s, STATE_COLORS[s], options.color)} ${n}`)
    .join('  ');
  const lines = [
    `${options.title}  ${new Date(now).toISOString().slice(0, 19).replace('T', ' ')} UTC  events: ${state.eventCount}`,
    '',
    `Workers: ${online} online, ${workers.length} known`,
    ...(workers.length === 0 ? ['  (none yet: workers appear with their first heartbeat or task event)'] : workers.map((w) => workerLine(state, w, now, options.color))),
    '',
    `Tasks: ${counts || 'none yet'}`,
    `  ${'UUID'.padEnd(36)}  ${'NAME'.padEnd(24)}  ${'STATE'.padEnd(8)}  ${'WORKER'.padEnd(20)}  RECEIVED  ${'RUNTIME'.padStart(8)}  DETAIL`,
  ];
  const room = Math.max(0, options.height - lines.length - 1);
  lines.push(...state.tasks(room).map((t) => taskLine(t, options.color)));
  return `${lines.map((l) => fitLine(l, options.width)).join('\n')}\n`;
}
