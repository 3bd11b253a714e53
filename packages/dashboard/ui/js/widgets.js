// Shared widgets: the collapsible value viewer, copy buttons, the confirm dialog, toasts.
import { h } from './dom.js';
import { childCount, parseValue, preview, pyStr } from './pyrepr.js';

const PAGE = 200; // children shown before a "show more" button
const OPEN_DEPTH = 2; // levels open by default

/** Copies text to the clipboard (with a fallback for plain-http pages). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand?.('copy') ?? false;
    ta.remove();
    return ok;
  }
}

/** A "Copy" button for `text`; says "Copied" for a moment. */
export function copyButton(text, label = 'Copy') {
  const btn = h('button', {
    type: 'button',
    class: 'small',
    onclick: async () => {
      const ok = await copyText(typeof text === 'function' ? text() : text);
      btn.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (btn.textContent = label), 1500);
    },
  }, label);
  return btn;
}

function scalar(node) {
  switch (node.t) {
    case 'str':
      return h('span', { class: 'v-str' }, pyStr(node.v));
    case 'bytes':
      return h('span', { class: 'v-str' }, pyStr(node.v, true));
    case 'num':
      return h('span', { class: 'v-num' }, node.v);
    case 'bool':
      return h('span', { class: 'v-kw' }, node.v ? 'True' : 'False');
    case 'none':
      return h('span', { class: 'v-kw' }, 'None');
    default:
      return h('span', { class: 'v-raw' }, node.v);
  }
}

function keyText(k) {
  return k.t === 'str' ? k.v : preview(k, 80);
}

function children(node) {
  if (node.t === 'dict') return node.entries.map(([k, v]) => [keyText(k), v]);
  if (node.t === 'call') return [...node.items.map((v, i) => [String(i), v]), ...node.entries.map(([k, v]) => [keyText(k), v])];
  return node.items.map((v, i) => [String(i), v]);
}

function brackets(node) {
  if (node.t === 'dict' || node.t === 'set') return ['{', '}'];
  if (node.t === 'tuple') return ['(', ')'];
  if (node.t === 'call') return [`${node.name}(`, ')'];
  return ['[', ']'];
}

function renderNode(node, depth) {
  if (childCount(node) === 0 && node.t !== 'dict' && node.t !== 'list' && node.t !== 'tuple' && node.t !== 'set' && node.t !== 'call') {
    if (node.t === 'str' && (node.v.length > 200 || node.v.includes('\n'))) {
      return h('details', { class: 'v-long' }, h('summary', null, scalar({ t: 'str', v: node.v.slice(0, 120) + (node.v.length > 120 ? '…' : '') }), ` (${node.v.length} chars)`), h('pre', null, node.v));
    }
    return scalar(node);
  }
  const [open, close] = brackets(node);
  const kids = children(node);
  if (kids.length === 0) return h('span', { class: 'v-punct' }, open + close);
  const list = h('ul', { class: 'v-children' });
  const addFrom = (start) => {
    for (const [k, v] of kids.slice(start, start + PAGE)) {
      list.appendChild(h('li', null, node.t === 'dict' || node.t === 'call' ? h('span', { class: 'v-key' }, `${k}: `) : null, renderNode(v, depth + 1)));
    }
    if (start + PAGE < kids.length) {
      const more = h('li', null, h('button', {
        type: 'button',
        class: 'small',
        onclick: () => {
          more.remove();
          addFrom(start + PAGE);
        },
      }, `Show ${Math.min(PAGE, kids.length - start - PAGE)} more of ${kids.length - start - PAGE}`));
      list.appendChild(more);
    }
  };
  addFrom(0);
  return h(
    'details',
    { class: 'v-node', open: depth < OPEN_DEPTH },
    h('summary', null, h('span', { class: 'v-punct' }, open), h('span', { class: 'v-preview' }, ` ${kids.length} ${kids.length === 1 ? 'item' : 'items'} `), h('span', { class: 'v-punct' }, close)),
    list,
  );
}

/**
 * A labelled value (args, kwargs, result...): parsed from JSON or Python repr and drawn as a
 * collapsible tree, with Copy (the original text) and, when parsed, Copy as JSON.
 */
/**
 * True when a repr looks cut at its source: Celery shortens args/kwargs/result reprs in its
 * events (ending them with "..."), so the text no longer parses.
 */
export function looksCut(text) {
  return typeof text === 'string' && /(\.\.\.|…)['"\])}]*$/.test(text) && parseValue(text).kind === 'text';
}

export function valueView(label, text, { truncated = false, fullUrl } = {}) {
  const raw = typeof text === 'string' ? text : JSON.stringify(text);
  const { kind, node } = parseValue(text);
  const tools = h('span', { class: 'tools' }, copyButton(raw ?? ''), kind !== 'text' ? copyButton(() => JSON.stringify(toJs(node), null, 2), 'Copy as JSON') : null);
  return h(
    'section',
    { class: 'value', 'aria-label': label },
    h('h3', null, label, ' ', h('small', { class: 'muted' }, kind === 'python' ? 'Python repr' : kind === 'json' ? 'JSON' : 'text'), tools),
    truncated ? h('p', { class: 'notice', role: 'note' }, 'Cut to a preview by the dashboard. ', fullUrl ? h('a', { href: fullUrl }, 'Fetch the full value') : null) : looksCut(raw) ? h('p', { class: 'notice', role: 'note' }, 'Shortened by the worker (Celery cuts long reprs in its events).') : null,
    h('div', { class: 'v-root' }, kind === 'text' ? h('pre', null, raw) : renderNode(node, 0)),
  );
}

/** A node as a plain JS value (for Copy as JSON). */
export function toJs(node) {
  switch (node.t) {
    case 'dict':
      return Object.fromEntries(node.entries.map(([k, v]) => [keyText(k), toJs(v)]));
    case 'list':
    case 'tuple':
    case 'set':
      return node.items.map(toJs);
    case 'call':
      return { [node.name]: [...node.items.map(toJs), ...(node.entries.length ? [Object.fromEntries(node.entries.map(([k, v]) => [keyText(k), toJs(v)]))] : [])] };
    case 'num': {
      const n = Number(node.v);
      return Number.isFinite(n) ? n : node.v;
    }
    case 'bool':
      return node.v;
    case 'none':
      return null;
    default:
      return node.v;
  }
}

/**
 * Asks to confirm an action in a modal dialog; resolves true on Confirm. `fields` adds
 * inputs ({name, label, type, value, required}); the resolved value is then the form values.
 */
export function confirmDialog(title, message, { confirmLabel = 'Confirm', danger = false, fields = [] } = {}) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => {
      const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
      const input = h('input', { id, name: f.name, type: f.type ?? 'text', required: f.required, value: f.value ?? '', min: f.min, step: f.step, placeholder: f.placeholder });
      return { f, input, el: h('p', null, h('label', { for: id }, f.label), ' ', input) };
    });
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, title),
        h('p', null, message),
        inputs.map((i) => i.el),
        h('menu', null,
          h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'),
          h('button', { value: 'ok', type: 'submit', class: danger ? 'danger' : 'primary' }, confirmLabel))),
    );
    document.body.appendChild(dialog);
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok';
      dialog.remove();
      if (!ok) resolve(false);
      else if (fields.length === 0) resolve(true);
      else resolve(Object.fromEntries(inputs.map((i) => [i.f.name, i.input.value])));
    });
    dialog.showModal();
    (inputs[0]?.input ?? dialog.querySelector('button[value=ok]')).focus();
  });
}

/** A transient message in the toast area (role=status, so screen readers announce it). */
export function toast(message, kind = 'info') {
  const area = document.getElementById('toasts');
  if (!area) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, String(message).slice(0, 500));
  area.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 10_000 : 5000);
}

/**
 * Runs an action after confirmation and reports its outcome as a toast. `run` gets the
 * dialog's field values (or true); its resolved `{message}` is shown.
 */
export async function act(title, message, run, options = {}) {
  const answer = await confirmDialog(title, message, options);
  if (!answer) return null;
  try {
    const res = await run(answer);
    toast(res?.message ?? 'Done', 'ok');
    return res ?? {};
  } catch (err) {
    toast(`${title} failed: ${err.message}`, 'error');
    return null;
  }
}
