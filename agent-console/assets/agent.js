// The agent's page: status, the live queue, the offer with the caller's
// context, the call's controls, wrap-up, today's figures, the softphone.
//
// Owns only what the page shows; every change goes through the console API
// and the page then shows the server's answer (and the live feed). Must
// never show a caller number other than as the server sent it (masked for
// agents).

import {
  start, api, t, word, el, setText, syncRows, announce, showError, liveFeed, duration, seconds,
  number, yesNo, onLang, shortcut, everySecond, fieldError, callerRows,
} from '/static/console.js';
import { softphone } from '/static/softphone.js';

const $ = (id) => document.getElementById(id);

let me = null;
let phone = null;
let self = null;          // the last AgentSelf
let frameAt = 0;          // performance.now() when `self` arrived
let lastCall = null;      // the call to wrap up
let lastOffer = null;
let lastStatusWords = '';
let wasWrapUp = false;
let queueKey = '';
let queueTimer = null;
let callers = [];
let callersAt = 0;
let dispositionCodes = []; // the configured codes, from the server

function elapsed() { return performance.now() - frameAt; }

async function act(f) {
  showError('');
  try {
    const next = await f();
    if (next && next.agent) apply(next);
    return true;
  } catch (e) {
    showError(e.message);
    return false;
  }
}

function facts(dl, call) {
  const rows = [
    ['col.queue', call.queue ?? t('common.none')],
    ['col.language', word('lang', call.language)],
    ['col.topic', word('topic', call.topic)],
    ['agent.ivr_path', call.ivr_path || t('common.none')],
    ['agent.repeat_caller', yesNo(call.repeat_caller)],
    ['col.callback', yesNo(call.callback)],
    ['agent.number', call.caller_number ?? t('agent.withheld')],
  ];
  // Updated in place: the live feed sends a frame on every change, and a
  // list rebuilt each time flickers and loses a reader's selection.
  if (dl.children.length !== rows.length * 2) {
    dl.replaceChildren(...rows.flatMap(() => [el('dt'), el('dd')]));
  }
  rows.forEach(([key, value], i) => {
    setText(dl.children[2 * i], t(key));
    setText(dl.children[2 * i + 1], String(value));
  });
}

function apply(next) {
  self = next;
  frameAt = performance.now();
  render();
}

function render() {
  if (!self) return;
  const a = self.agent;
  const status = word('status', a.status) + (a.break_reason ? ` · ${word('break', a.break_reason)}` : '');
  setText($('my-status'), status);
  $('my-status').className = `badge ${a.status}`;
  setText($('my-state'), word('state', a.state));
  $('my-state').className = `badge ${a.state}`;
  $('go-available').setAttribute('aria-pressed', String(a.status === 'available'));
  $('go-break').setAttribute('aria-pressed', String(a.status === 'on_break'));
  $('go-logout').setAttribute('aria-pressed', String(a.status === 'logged_out'));
  const words = `${status}, ${word('state', a.state)}`;
  if (words !== lastStatusWords) {
    if (lastStatusWords) announce('status-live', t('agent.now', { what: words }));
    lastStatusWords = words;
  }

  // The offer.
  const offer = self.offer;
  $('offer-panel').hidden = !offer;
  if (offer) {
    facts($('offer-facts'), offer);
    if (offer.call !== lastOffer) {
      lastOffer = offer.call;
      announce('offer-live', t('agent.offer_announce', {
        language: word('lang', offer.language), topic: word('topic', offer.topic),
      }));
      const focus = document.activeElement;
      if (!focus || !['INPUT', 'TEXTAREA', 'SELECT'].includes(focus.tagName)) $('answer').focus();
    }
  } else {
    lastOffer = null;
  }

  // The call.
  const call = self.call;
  $('call-panel').hidden = !call;
  if (call) {
    // The answer button just went away with the offer: keep the keyboard
    // in the call's panel (its heading, so no key press acts by mistake).
    const focus = document.activeElement;
    if (lastCall !== call.call && (!focus || focus === document.body || $('offer-panel').contains(focus))) {
      $('call-h').focus();
    }
    lastCall = call.call;
    facts($('call-facts'), call);
    $('mute').setAttribute('aria-pressed', String(call.muted));
    $('hold').setAttribute('aria-pressed', String(call.on_hold));
    setText($('hold'), call.on_hold ? t('agent.resume') : t('agent.hold'));
    phone?.setMuted(call.muted);
    phone?.setInCall(true);
    const select = $('transfer-queue');
    const names = self.queues.map((q) => q.name);
    if ([...select.options].map((o) => o.value).join() !== names.join()) {
      select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    }
  } else {
    phone?.setMuted(false);
    phone?.setInCall(false);
  }

  // Wrap-up.
  const wrapUp = a.state === 'wrap_up';
  $('wrapup-panel').hidden = !wrapUp;
  if (wrapUp && !wasWrapUp) {
    $('wrapup-form').reset();
    fieldError($('disposition'), '');
    fieldError($('notes'), '');
    announce('status-live', t('agent.wrapup_started'));
    $('disposition').focus();
  } else if (!wrapUp && wasWrapUp) {
    if (!document.activeElement || document.activeElement === document.body
      || $('wrapup-panel').contains(document.activeElement)) $('status-h').focus();
    loadFigures();
  }
  wasWrapUp = wrapUp;

  // The queue summary; the callers' list follows it.
  syncRows($('queue-summary'), self.queues, (q) => q.name, () => el('tr', {},
    el('th', { scope: 'row' }), el('td', { class: 'num' }), el('td', { class: 'num' }),
    el('td', { class: 'num' }), el('td', { class: 'num' })), (row, q) => {
    setText(row.cells[0], q.name);
    setText(row.cells[1], number(q.waiting));
    setText(row.cells[2], number(q.callbacks));
    row.cells[3].dataset.ms = q.longest_wait_ms ?? '';
    setText(row.cells[4], number(q.agents_free));
  });
  const key = JSON.stringify(self.queues.map((q) => [q.name, q.waiting, q.callbacks]));
  if (key !== queueKey) {
    queueKey = key;
    clearTimeout(queueTimer);
    queueTimer = setTimeout(loadCallers, 200);
  }
  tick();
}

async function loadCallers() {
  try {
    const queues = await api('GET', '/api/queue');
    callers = queues.flatMap((q) => q.waiting.map((w) => ({ ...w, queue: q.name })));
    callersAt = performance.now();
    renderCallers();
  } catch (e) {
    showError(e.message);
  }
}

function renderCallers() {
  callerRows(callers);
  tick();
}

function tick() {
  if (!self) return;
  const a = self.agent;
  const since = elapsed();
  // The badge shows status and state: its clock restarts when either
  // changes (back from a break the state is still `idle`, since before it).
  setText($('my-time'), duration(Math.min(a.time_in_status_ms, a.time_in_state_ms) + since));
  if (self.call) setText($('call-time'), duration(a.time_in_state_ms + since));
  if (a.state === 'wrap_up' && a.remaining_ms !== null) {
    const left = Math.max(0, a.remaining_ms - since);
    setText($('wrapup-countdown'), duration(left + 999));
    $('wrapup-countdown').classList.toggle('low', left < 15000);
  }
  for (const cell of $('queue-summary').querySelectorAll('td[data-ms]')) {
    setText(cell, cell.dataset.ms === '' ? '—' : duration(Number(cell.dataset.ms) + since));
  }
  const sinceList = performance.now() - callersAt;
  for (const cell of $('callers').querySelectorAll('td[data-ms]')) {
    setText(cell, duration(Number(cell.dataset.ms) + sinceList));
  }
}

/** The wrap-up form offers exactly the server's configured codes, in its
 *  order, each in words where `i18n.json` has them (else the code). */
function renderDispositions() {
  const select = $('disposition');
  const chosen = select.value;
  const options = dispositionCodes.map((code) => el('option', { value: code }, word('disposition', code)));
  select.replaceChildren(select.options[0], ...options);
  select.value = dispositionCodes.includes(chosen) ? chosen : '';
}

async function loadDispositions() {
  try {
    dispositionCodes = (await api('GET', '/api/agent/disposition-codes')).codes;
    renderDispositions();
  } catch (e) {
    showError(e.message);
  }
}

async function loadFigures() {
  try {
    const f = await api('GET', '/api/agent/today');
    const talk = self ? self.agent.talk_time_ms : null;
    const tiles = [
      ['fig.answered', number(f.answered)],
      ['fig.aht', seconds(f.aht_s)],
      ['fig.satisfaction', f.satisfaction === null ? '—' : number(f.satisfaction, 1)],
      ['fig.surveys', number(f.surveys)],
      ['fig.talk_time', duration(talk)],
    ];
    $('figures').replaceChildren(...tiles.map(([key, value]) => el('div', { class: 'figure' },
      el('div', { class: 'value' }, value), el('div', { class: 'label' }, t(key)))));
  } catch (e) {
    showError(e.message);
  }
}

const status = (body) => act(() => api('POST', '/api/agent/status', body));

function answer() {
  if (!self?.offer) return;
  if (phone && !phone.ready) showError(t('agent.phone_not_ready'));
  const call = self.offer.call;
  act(() => api('POST', '/api/agent/call', { call, action: 'answer' }));
}

function callAction(action) {
  const call = self?.call?.call;
  if (call === undefined) return;
  act(() => api('POST', '/api/agent/call', { call, action }));
}

function wire() {
  $('go-available').addEventListener('click', () => status({
    status: self?.agent.status === 'logged_out' ? 'login' : 'available',
  }));
  $('go-break').addEventListener('click', () => status({ status: 'break', reason: $('break-reason').value }));
  $('go-logout').addEventListener('click', () => status({ status: 'logout' }));
  $('answer').addEventListener('click', answer);
  $('reject').addEventListener('click', () => {
    const call = self?.offer?.call;
    if (call !== undefined) act(() => api('POST', '/api/agent/call', { call, action: 'reject' }));
  });
  $('mute').addEventListener('click', () => callAction(self?.call?.muted ? 'unmute' : 'mute'));
  $('hold').addEventListener('click', () => callAction(self?.call?.on_hold ? 'resume' : 'hold'));
  $('survey').addEventListener('click', () => callAction('survey'));
  $('hangup').addEventListener('click', () => callAction('hangup'));
  $('transfer-kind').addEventListener('change', () => {
    const toQueue = $('transfer-kind').value === 'queue';
    $('transfer-queue').hidden = !toQueue;
    $('transfer-agent').hidden = toQueue;
  });
  $('transfer-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const call = self?.call?.call;
    if (call === undefined) return;
    const toQueue = $('transfer-kind').value === 'queue';
    const target = toQueue ? { queue: $('transfer-queue').value } : { agent: $('transfer-agent').value.trim() };
    setText($('transfer-error'), '');
    try {
      apply(await api('POST', '/api/agent/transfer', { call, ...target }));
    } catch (e) {
      setText($('transfer-error'), e.message);
    }
  });
  $('disposition').addEventListener('change', () => fieldError($('disposition'), ''));
  $('wrapup-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const disposition = $('disposition');
    const notes = $('notes');
    fieldError(disposition, '');
    fieldError(notes, '');
    if (!disposition.value) {
      fieldError(disposition, t('agent.disposition_missing'));
      disposition.focus();
      return;
    }
    const body = { call: lastCall, disposition: disposition.value };
    if (notes.value.trim()) body.notes = notes.value;
    try {
      apply(await api('POST', '/api/agent/wrap-up', body));
      announce('status-live', t('agent.wrapup_saved'));
    } catch (e) {
      // The server names the field it refused ("notes: ...").
      fieldError(e.message.startsWith('notes') ? notes : disposition, e.message);
    }
  });
  shortcut('KeyA', answer);
  shortcut('KeyR', () => $('reject').click());
  shortcut('KeyH', () => callAction('hangup'));
  shortcut('KeyM', () => $('mute').click());
  shortcut('KeyE', () => $('hold').click());
  shortcut('KeyD', () => { if (!$('wrapup-panel').hidden) $('wrapup-form').requestSubmit(); });
  onLang(() => { lastStatusWords = ''; render(); renderCallers(); renderDispositions(); loadFigures(); });
}

async function main() {
  me = await start('agent');
  if (!me) return;
  wire();
  await loadDispositions();
  phone = softphone(me);
  try {
    apply(await api('GET', '/api/agent/state'));
  } catch (e) {
    showError(e.message);
  }
  loadFigures();
  setInterval(loadFigures, 60_000);
  everySecond(tick);
  liveFeed((frame) => {
    if (frame.type === 'agent') apply(frame.data);
    else if (frame.type === 'error') showError(frame.data?.reason || '');
  });
}

main();
