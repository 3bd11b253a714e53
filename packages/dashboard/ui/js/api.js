// The dashboard's HTTP client: every URL is relative to the page, so the app works under
// any --url-prefix; actions carry the CSRF token the page config hands out.

/** Page config: filled by {@link loadConfig}. */
export const config = {
  urlPrefix: '',
  readOnly: false,
  role: 'admin',
  csrfToken: null,
  csrfHeader: 'x-csrf-token',
  timezone: 'UTC',
  /** A URL with {trace_id}: where the task page links a task's trace (null: the id alone). */
  traceUrl: null,
  user: null,
  version: '',
  /** 'authenticated', 'anonymous-read-only' or 'anonymous-control' (docs/security.md). */
  auth: 'authenticated',
  /** True when the page holds a session cookie that logout can end. */
  session: false,
};

/** An HTTP error with the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

function applyConfig(c) {
  if (!c || typeof c !== 'object') return;
  for (const key of Object.keys(config)) if (key in c && c[key] !== undefined && c[key] !== null) config[key] = c[key];
}

/**
 * Reads the page config: the `<meta name="celeriac-dashboard">` the server puts in
 * index.html, else `api/config`; keeps the defaults when the server has neither.
 */
export async function loadConfig() {
  const meta = typeof document === 'undefined' ? null : document.querySelector('meta[name="celeriac-dashboard"]');
  if (meta) {
    try {
      applyConfig(JSON.parse(meta.getAttribute('content') ?? ''));
      return config;
    } catch {
      // fall through to the API
    }
  }
  try {
    const c = await getJson('api/config');
    applyConfig(c);
  } catch {
    // An older server: defaults.
  }
  return config;
}

/** True when the user may act (not read-only, not a viewer). */
export function canAct() {
  return !config.readOnly && config.role !== 'viewer';
}

/**
 * `path` as an absolute URL without the page's credentials: a page opened as
 * `http://user:pass@host/` has them in its base URL, and fetch refuses a Request built from
 * a URL that includes credentials (the browser sends the Basic auth it already has anyway).
 */
export function urlFor(path) {
  return new URL(path, `${location.origin}${location.pathname}`).href;
}

/** `path?key=value...`, skipping empty values; arrays repeat the key. */
export function withQuery(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) for (const x of v) q.append(k, String(x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function errorOf(res) {
  const text = await res.text().catch(() => '');
  let message = text;
  try {
    const j = JSON.parse(text);
    message = j.error ?? j.message ?? text;
  } catch {
    // plain text body
  }
  return new ApiError(res.status, String(message || `${res.status} ${res.statusText}`).slice(0, 2000));
}

/** GET a JSON document; throws {@link ApiError} on a non-2xx answer. */
export async function getJson(path, params, { signal } = {}) {
  const res = await fetch(urlFor(withQuery(path, params)), { headers: { accept: 'application/json' }, credentials: 'same-origin', signal });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/** POST an action (form-encoded params, or a JSON body); resolves with the parsed answer. */
export async function post(path, params = {}, { json } = {}) {
  const headers = { accept: 'application/json' };
  if (config.csrfToken) headers[config.csrfHeader] = config.csrfToken;
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') form.append(k, String(v));
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = form.toString();
  }
  const res = await fetch(urlFor(path), { method: 'POST', headers, body, credentials: 'same-origin' });
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/**
 * The live stream (`api/live`, server-sent events). EventSource reconnects by itself after a
 * dropped connection; when the server refuses (EventSource gives up), this retries with
 * back-off. Listeners get `(type, data)`; status listeners get 'connecting' | 'open' |
 * 'reconnecting', and `reopened` is true on an open that follows a drop (a page refetches
 * then, since events may have been missed).
 */
export class LiveStream {
  constructor(path = 'api/live', types = ['task', 'tasks', 'worker', 'worker-gone', 'lost', 'inspect', 'stats', 'queues', 'beat', 'overview', 'resync']) {
    this.path = path;
    this.types = types;
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.status = 'connecting';
    this.dropped = false;
    this.retryMs = 1000;
    this.source = null;
    this.timer = null;
  }

  start() {
    if (this.source || typeof EventSource === 'undefined') return;
    const es = new EventSource(urlFor(this.path), { withCredentials: true });
    this.source = es;
    es.onopen = () => {
      this.retryMs = 1000;
      const reopened = this.dropped;
      this.dropped = false;
      this.setStatus('open', reopened);
    };
    es.onerror = () => {
      this.dropped = true;
      if (es.readyState === EventSource.CLOSED) {
        this.source = null;
        this.setStatus('reconnecting', false);
        this.timer = setTimeout(() => this.start(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 30_000);
      } else this.setStatus('reconnecting', false);
    };
    const deliver = (type) => (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      for (const l of this.listeners) {
        try {
          l(type, data);
        } catch (err) {
          console.error(err);
        }
      }
    };
    for (const type of this.types) es.addEventListener(type, deliver(type));
    // The server dropped messages this client was too slow for: pages refetch, as after a reconnect.
    es.addEventListener('resync', () => this.setStatus('open', true));
    es.onmessage = (ev) => {
      // Unnamed events carry their type inside: {type, data}.
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === 'string') for (const l of this.listeners) l(msg.type, msg.data ?? msg);
    };
  }

  setStatus(status, reopened) {
    this.status = status;
    for (const l of this.statusListeners) l(status, reopened);
  }

  /** Adds a listener; returns its remover. */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  stop() {
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }
}
