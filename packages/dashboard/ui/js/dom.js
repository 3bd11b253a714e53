// DOM building without innerHTML: every string becomes a text node or an attribute value,
// so task args, results and worker names that contain markup are shown, never run.

/**
 * Creates an element. `attrs` keys: `class`, `on<event>` (a function), `dataset` (object),
 * `style` (string), booleans set or remove the attribute; other values become attributes.
 * Children: strings/numbers (text), nodes, arrays (flattened), null/undefined/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children as {@link h} does. */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === 'object' && 'nodeType' in child) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** An SVG element (`h('svg:' + tag, ...)`). */
export function s(tag, attrs, ...children) {
  return h(`svg:${tag}`, attrs, ...children);
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link inside the app (hash routing keeps every URL under the server's url prefix). */
export function link(route, ...children) {
  return h('a', { href: `#${route}` }, ...children);
}

/** A state badge. */
export function badge(state) {
  const st = String(state ?? 'UNKNOWN');
  return h('span', { class: `badge state-${st.replace(/[^A-Za-z0-9_-]/g, '')}` }, st);
}

/** A definition list from [label, value] pairs, skipping null values. */
export function dl(pairs) {
  return h(
    'dl',
    { class: 'kv' },
    pairs
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
  );
}

/** A table from column headers and row arrays. */
export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    attrs,
    h('thead', null, h('tr', null, headers.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((r) => (r instanceof Element ? r : h('tr', null, r.map((c) => h('td', null, c)))))),
  );
}
