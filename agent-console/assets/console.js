// The 012 console's shared module: translations, the API client (session
// cookie + X-CSRF-Token), the live feed over WebSocket, the page header,
// formatting, keyboard shortcuts and small DOM helpers.
//
// Owns nothing on the server. Must never parse a string from the network as
// markup (text nodes and textContent only), and never keep a password.

const LANGS = ['ca', 'es', 'en'];
const LANG_KEY = 'ivr012.lang';

let table = { ca: {}, es: {}, en: {} };
let lang = pickLang();
let csrf = '';
const langListeners = [];

function pickLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch (_) { /* storage refused: default */ }
  return 'ca';
}

export function currentLang() { return lang; }

/** The text of `key` in the current language, `{name}` replaced from `vars`. */
export function t(key, vars) {
  let text = table[lang]?.[key] ?? table.ca?.[key] ?? key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

/** A code from the server (a language, a topic, a status) in words. */
export function word(prefix, code) {
  if (code === null || code === undefined || code === '') return t('common.none');
  const key = `${prefix}.${code}`;
  const text = t(key);
  return text === key ? String(code) : text;
}

/** Puts the current language into every `data-i18n*` element under `root`. */
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}

export function setLang(next) {
  if (!LANGS.includes(next)) return;
  lang = next;
  try { localStorage.setItem(LANG_KEY, next); } catch (_) { /* not kept */ }
  translate();
  for (const f of langListeners) f(next);
}

/** Calls `f` after every language change (pages redraw their dynamic text). */
export function onLang(f) { langListeners.push(f); }

export async function loadTranslations() {
  try {
    const res = await fetch('/static/i18n.json', { credentials: 'same-origin' });
    if (res.ok) table = await res.json();
  } catch (_) { /* the HTML already holds the Catalan text */ }
  const select = document.getElementById('lang');
  if (select) {
    select.value = lang;
    select.addEventListener('change', () => setLang(select.value));
  }
  translate();
}

/** A refusal from the API: `status`, `error` code and the server's `reason`. */
export class ApiFailure extends Error {
  constructor(status, error, reason) {
    super(reason || error || String(status));
    this.status = status;
    this.error = error;
    this.reason = reason || '';
  }
}

function toLogin() {
  const next = encodeURIComponent(location.pathname);
  location.assign(`/?next=${next}`);
}

/** One API call: JSON in and out, the CSRF token on every change. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new ApiFailure(0, 'network', t('error.network'));
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch (_) { data = null; }
  }
  if (res.status === 401 && path !== '/api/login') {
    toLogin();
    throw new ApiFailure(401, 'unauthorized', t('error.signed_out'));
  }
  if (!res.ok) {
    const retry = res.headers.get('Retry-After');
    const reason = data?.reason || (retry ? t('error.retry_after', { s: retry }) : res.statusText);
    throw new ApiFailure(res.status, data?.error || 'http', reason);
  }
  return data;
}

function roleRank(role) { return { agent: 1, supervisor: 2, admin: 3 }[role] || 0; }

export function hasRole(me, role) { return roleRank(me.role) >= roleRank(role); }

/** The page's start: translations, who is signed in (or the login page),
 *  the header, and a check that the role may see this page. */
export async function start(needs) {
  await loadTranslations();
  let me;
  try {
    me = await api('GET', '/api/me');
  } catch (e) {
    if (e.status !== 401) showError(e.message);
    return null;
  }
  csrf = me.csrf_token;
  for (const a of document.querySelectorAll('header.top nav a[data-role]')) {
    const visible = a.dataset.role === 'agent' ? Boolean(me.agent_login) : hasRole(me, a.dataset.role);
    a.hidden = !visible;
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
  }
  const who = document.getElementById('who');
  const showWho = () => { if (who) who.textContent = `${me.display_name} (${word('role', me.role)})`; };
  showWho();
  onLang(showWho);
  document.getElementById('signout')?.addEventListener('click', signOut);
  const allowed = needs === 'agent' ? Boolean(me.agent_login) : hasRole(me, needs);
  if (!allowed) {
    showError(t('error.not_allowed'));
    document.querySelector('main')?.querySelectorAll('section, form, div.grid').forEach((el) => { el.hidden = true; });
    return null;
  }
  return me;
}

async function signOut() {
  try { await api('POST', '/api/logout'); } catch (_) { /* gone anyway */ }
  location.assign('/');
}

/** The page's error banner (role=alert). Empty text hides it. */
export function showError(text) {
  const el = document.getElementById('page-error');
  if (!el) return;
  el.textContent = text || '';
  el.hidden = !text;
}

/** Says `text` in a live region (assistive technology reads it). */
export function announce(id, text) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = '';
  // A change after an empty frame is announced even when the text repeats.
  requestAnimationFrame(() => { el.textContent = text; });
}

/**
 * The live feed (`/api/live`): `onFrame(frame)` for every frame; reconnects
 * with a growing delay and shows its state in the header.
 */
export function liveFeed(onFrame) {
  const stateEl = document.getElementById('feed-state');
  let delay = 500;
  let socket = null;
  const show = (state) => {
    if (!stateEl) return;
    stateEl.dataset.state = state;
    stateEl.textContent = t(`feed.${state}`);
  };
  onLang(() => show(stateEl?.dataset.state || 'connecting'));
  const open = () => {
    show(socket ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/api/live`);
    socket.addEventListener('open', () => { delay = 500; show('connected'); });
    socket.addEventListener('message', (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (_) { return; }
      onFrame(frame);
    });
    socket.addEventListener('close', (ev) => {
      show('reconnecting');
      if (ev.reason === 'session ended') { toLogin(); return; }
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  open();
}

// Formatting ---------------------------------------------------------------

/** 75_000 -> "1:15"; 3_725_000 -> "1:02:05". */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return '—';
  return `${(ratio * 100).toLocaleString(lang, { maximumFractionDigits: 1 })} %`;
}

export function seconds(s) {
  if (s === null || s === undefined) return '—';
  return `${s.toLocaleString(lang, { maximumFractionDigits: 0 })} s`;
}

export function number(n, digits = 0) {
  if (n === null || n === undefined) return '—';
  return n.toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function yesNo(flag) { return flag ? t('common.yes') : t('common.no'); }

// DOM ------------------------------------------------------------------------

/** `el('td', { class: 'num' }, 'text', child)`: attributes, then children
 *  (strings become text nodes: never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Sets text only when it changed (keeps screen readers and focus calm). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/**
 * Keeps `tbody`'s rows in step with `items` by key: a row that stays keeps
 * its element (and the focus inside it); `make(item)` builds a new row and
 * `update(row, item)` refreshes one.
 */
export function syncRows(tbody, items, key, make, update) {
  const existing = new Map();
  for (const row of tbody.rows) existing.set(row.dataset.key, row);
  let before = tbody.firstElementChild;
  for (const item of items) {
    const k = String(key(item));
    let row = existing.get(k);
    if (row) existing.delete(k);
    else { row = make(item); row.dataset.key = k; }
    update(row, item);
    if (row !== before) tbody.insertBefore(row, before);
    else before = before.nextElementSibling;
  }
  for (const row of existing.values()) row.remove();
}

/**
 * The callers waiting (`#callers`, from the `_callers.html` part): one row
 * per call with its queue, position, wait (ticking, see `tickWaits`),
 * language, topic and callback flag.
 */
export function callerRows(callers) {
  const tbody = document.getElementById('callers');
  syncRows(tbody, callers, (c) => c.call, () => el('tr', {},
    el('td'), el('td', { class: 'num' }), el('td', { class: 'num wait' }), el('td'), el('td'), el('td')), (row, c) => {
    setText(row.cells[0], c.queue);
    setText(row.cells[1], number(c.position));
    row.cells[2].dataset.ms = c.waited_ms;
    setText(row.cells[3], word('lang', c.language));
    setText(row.cells[4], word('topic', c.topic));
    setText(row.cells[5], c.callback ? t('common.yes') : '');
  });
  document.getElementById('callers-empty').hidden = callers.length > 0;
}

/** Shows a field's server-side message next to it (`''` clears it). */
export function fieldError(input, text) {
  if (!input) return;
  const msg = document.getElementById(`${input.id}-error`);
  if (msg) msg.textContent = text || '';
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/**
 * Alt+Shift+<key> shortcuts (`event.code`, e.g. `KeyA`), so that they work
 * on any keyboard layout and never fire while typing plain text.
 */
export function shortcut(code, action) {
  document.addEventListener('keydown', (ev) => {
    if (ev.altKey && ev.shiftKey && !ev.ctrlKey && !ev.metaKey && ev.code === code) {
      ev.preventDefault();
      action();
    }
  });
}

/** Runs `f` once a second (timers, countdowns). */
export function everySecond(f) {
  f();
  return setInterval(f, 1000);
}
