// The live task page: sends demo.process tasks and renders the pushed task events.
// Plain script, no framework, no build step: the server serves this file as it is.
/* global document, EventSource */
'use strict';

const rows = new Map(); // task id -> { row, task }
const tbody = document.querySelector('#tasks tbody');
const summary = document.getElementById('summary');
const connection = document.getElementById('connection');
const workersList = document.getElementById('workers');
const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

function taskNumOf(task) {
  if (typeof task.taskNum === 'number') return task.taskNum;
  try {
    const args = JSON.parse(task.args ?? 'null');
    return Array.isArray(args) && typeof args[0] === 'number' ? args[0] : null;
  } catch {
    return null;
  }
}

function cell(row, index) {
  return row.children[index];
}

function render(entry) {
  const { row, task } = entry;
  const num = taskNumOf(task);
  cell(row, 0).textContent = num === null ? '' : String(num);
  cell(row, 1).textContent = task.id;
  const state = cell(row, 2);
  state.textContent = task.state;
  state.className = `state-${task.state}`;
  const progressCell = cell(row, 3);
  const p = task.progress;
  if (task.state === 'SUCCESS') progressCell.replaceChildren('done');
  else if (p && p.total > 0) {
    const bar = document.createElement('progress');
    bar.max = p.total;
    bar.value = p.current;
    bar.setAttribute('aria-label', `task ${num ?? task.id}: ${p.current} of ${p.total}`);
    progressCell.replaceChildren(bar, ` ${p.current}/${p.total}`);
  } else progressCell.replaceChildren('');
  cell(row, 4).textContent = task.worker ?? '';
  cell(row, 5).textContent = task.state === 'FAILURE' ? (task.exception ?? '') : (task.result ?? '');
  row.dataset.state = task.state;
  row.dataset.worker = task.worker ?? '';
}

function upsert(task) {
  let entry = rows.get(task.id);
  if (entry === undefined) {
    const row = document.createElement('tr');
    row.dataset.taskId = task.id;
    for (let i = 0; i < 6; i += 1) row.appendChild(document.createElement('td'));
    cell(row, 1).className = 'id';
    tbody.prepend(row);
    entry = { row, task: { state: 'PENDING', ...task } };
    rows.set(task.id, entry);
  } else {
    // A PENDING row made from the send response must not undo what events already said.
    const keep = task.state === 'PENDING' && entry.task.state !== 'PENDING';
    entry.task = { ...entry.task, ...task, ...(keep ? { state: entry.task.state } : {}) };
  }
  render(entry);
  refreshSummary();
}

function refreshSummary() {
  const all = [...rows.values()].map((e) => e.task);
  const done = all.filter((t) => FINAL.has(t.state)).length;
  summary.textContent = `${done} of ${all.length} tasks finished.`;
  const perWorker = new Map();
  for (const t of all) if (t.worker) perWorker.set(t.worker, (perWorker.get(t.worker) ?? 0) + 1);
  if (perWorker.size === 0) return;
  workersList.replaceChildren(
    ...[...perWorker.entries()].sort().map(([name, n]) => {
      const li = document.createElement('li');
      li.textContent = `${name}: ${n} task${n === 1 ? '' : 's'}`;
      return li;
    }),
  );
}

function connect() {
  const source = new EventSource('/live/stream');
  source.addEventListener('open', () => {
    connection.textContent = 'Connected: updates arrive as tasks change.';
  });
  source.addEventListener('error', () => {
    connection.textContent = 'Connection lost; reconnecting…';
  });
  source.addEventListener('snapshot', (e) => {
    const data = JSON.parse(e.data);
    for (const task of data.tasks.reverse()) upsert(task);
    if (data.dashboard) {
      const link = document.createElement('a');
      link.href = data.dashboard;
      link.textContent = 'Dashboard';
      document.getElementById('dashboard-link').replaceChildren(' · ', link);
    }
  });
  source.addEventListener('task', (e) => upsert(JSON.parse(e.data)));
}

document.getElementById('send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const count = Number(event.submitter?.value ?? 1);
  const seconds = Number(document.getElementById('seconds').value);
  const response = await fetch('/live/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count, seconds }),
  });
  const body = await response.json();
  if (!response.ok) {
    connection.textContent = `Could not send: ${body.message}`;
    return;
  }
  for (const t of body.tasks) upsert({ id: t.taskId, taskNum: t.taskNum, state: 'PENDING' });
});

connect();
