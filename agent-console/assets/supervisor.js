// The supervisor's page: the live wallboard (pushed over /api/live and
// drawn as soon as a frame arrives), every agent's status with the
// supervisor's controls (status, listen, whisper, barge, stop), who
// monitors which call, and the dialplan in force with its reload button.
// Monitoring audio comes to the page's softphone, opened as the
// supervisor's own session (softphone(me, 'supervisor')).
//
// Owns the wallboard's thresholds (THRESHOLDS: the line's targets and when a
// tile turns amber or red). Must never show a level by colour alone: every
// level has a word and a shape too.

import {
  start, api, t, word, el, setText, syncRows, announce, showError, liveFeed, duration, percent,
  seconds, number, onLang, everySecond, callerRows,
} from '/static/console.js';
import { softphone } from '/static/softphone.js';

const $ = (id) => document.getElementById(id);

// [ok while <= / >= this, amber while <= / >= this, else red]; `up`: higher is better.
export const THRESHOLDS = {
  longest_wait: { ok: 20_000, warn: 60_000, up: false },
  waiting: { ok: 5, warn: 15, up: false },
  service_level: { ok: 0.8, warn: 0.7, up: true },
  abandon_rate: { ok: 0.05, warn: 0.1, up: false },
  asa: { ok: 20, warn: 40, up: false },
  satisfaction: { ok: 8, warn: 6, up: true },
};

export function level(name, value) {
  const th = THRESHOLDS[name];
  if (!th || value === null || value === undefined) return '';
  if (th.up) return value >= th.ok ? 'ok' : value >= th.warn ? 'warn' : 'bad';
  return value <= th.ok ? 'ok' : value <= th.warn ? 'warn' : 'bad';
}

const STATUS_CHOICES = [
  ['available', 'agent.go_available'],
  ['break:rest', 'break.rest'],
  ['break:meal', 'break.meal'],
  ['break:training', 'break.training'],
  ['break:meeting', 'break.meeting'],
  ['break:admin', 'break.admin'],
  ['logout', 'agent.go_logout'],
];

let board = null;
let frameAt = 0;
let myLogin = null;
const lastStatus = new Map();

function tile(name, text, lvl) {
  const node = $(`tile-${name}`);
  setText(node.querySelector('.value'), text);
  if (lvl) node.dataset.level = lvl; else delete node.dataset.level;
  const tag = node.querySelector('.level');
  tag.className = `level ${lvl}`;
  setText(tag, lvl ? t(`level.${lvl}`) : '');
}

function longestWaitMs(since) {
  const waits = board.queues.map((q) => q.longest_wait_ms).filter((w) => w !== null && w !== undefined);
  return waits.length ? Math.max(...waits) + since : null;
}

function renderTiles(since) {
  const waiting = board.queues.reduce((n, q) => n + q.waiting.length, 0);
  const count = (status, states) => board.agents.filter((a) => (status ? a.status === status : true)
    && (states ? states.includes(a.state) : true)).length;
  tile('in_ivr', number(board.in_ivr), '');
  tile('waiting', number(waiting), level('waiting', waiting));
  const longest = longestWaitMs(since);
  tile('longest_wait', duration(longest), longest === null ? 'ok' : level('longest_wait', longest));
  const f = board.today;
  tile('service_level', f ? percent(f.service_level) : '—', f ? level('service_level', f.service_level) : '');
  tile('abandon_rate', f ? percent(f.abandon_rate) : '—', f ? level('abandon_rate', f.abandon_rate) : '');
  tile('asa', f ? seconds(f.asa_s) : '—', f ? level('asa', f.asa_s) : '');
  tile('aht', f ? seconds(f.aht_s) : '—', '');
  tile('satisfaction', f && f.satisfaction !== null ? number(f.satisfaction, 1) : '—',
    f ? level('satisfaction', f.satisfaction) : '');
  tile('agents_available', number(count('available', ['idle', 'resting'])), '');
  tile('agents_on_call', number(count(null, ['on_call', 'offered', 'reserved'])), '');
  tile('agents_wrap_up', number(count(null, ['wrap_up'])), '');
  tile('agents_on_break', number(count('on_break', null)), '');
}

function renderQueues() {
  syncRows($('queues'), board.queues, (q) => q.name, () => el('tr', {},
    el('th', { scope: 'row' }), el('td', { class: 'num' }), el('td', { class: 'num wait' }),
    el('td', { class: 'num' }), el('td', { class: 'num' }), el('td')), (row, q) => {
    setText(row.cells[0], q.name);
    setText(row.cells[1], number(q.waiting.length));
    row.cells[2].dataset.ms = q.longest_wait_ms ?? '';
    setText(row.cells[3], number(q.agents_staffed));
    setText(row.cells[4], number(q.agents_free));
    setText(row.cells[5], q.closed ? t('sup.closed') : t('common.yes'));
  });
  callerRows(board.queues.flatMap((q) => q.waiting.map((w) => ({ ...w, queue: q.name }))));
}

function monitorButton(mode) {
  return el('button', { type: 'button', class: 'small', 'data-mode': mode });
}

function makeAgentRow() {
  const select = el('select', {});
  const row = el('tr', {},
    el('th', { scope: 'row' }),
    el('td', {}, el('span', { class: 'badge' })),
    el('td', {}, el('span', { class: 'badge' })),
    el('td', { class: 'num', 'data-ms': '' }),
    el('td'),
    el('td', {}, el('div', { class: 'row' }, select, el('button', { type: 'button', class: 'small', 'data-apply': '' }))),
    el('td', {}, el('div', { class: 'monitor' }, monitorButton('listen'), monitorButton('whisper'), monitorButton('barge'),
      el('button', { type: 'button', class: 'small', 'data-stop': '' })),
    el('span', { class: 'badge monitored', 'data-testid': 'monitor-state' })));
  for (const [value, key] of STATUS_CHOICES) select.append(el('option', { value, 'data-i18n': key }, t(key)));
  return row;
}

function updateAgentRow(row, a) {
  const name = a.display_name || a.login;
  row.dataset.login = a.login;
  row.dataset.testid = `agent-row-${a.login}`;
  setText(row.cells[0], `${name} (${a.login})`);
  const status = row.cells[1].firstChild;
  status.className = `badge ${a.status}`;
  setText(status, word('status', a.status) + (a.break_reason ? ` · ${word('break', a.break_reason)}` : ''));
  const state = row.cells[2].firstChild;
  state.className = `badge ${a.state}`;
  setText(state, word('state', a.state));
  row.cells[3].dataset.ms = a.time_in_state_ms;
  const call = a.call === null ? null : board.calls.find((c) => c.call === a.call);
  setText(row.cells[4], call ? `${word('lang', call.language)} · ${word('topic', call.topic)}${call.on_hold ? ` · ${t('agent.on_hold')}` : ''}` : '');
  // Who monitors the call, and how: every supervisor sees it.
  const watched = call?.monitor ?? null;
  const badge = row.cells[6].querySelector('[data-testid="monitor-state"]');
  badge.dataset.mode = watched ? watched.mode : '';
  setText(badge, watched ? t('monitor.by', { who: watched.supervisor, mode: t(`monitor.${watched.mode}`) }) : '');
  const select = row.cells[5].querySelector('select');
  select.setAttribute('aria-label', t('sup.status_for', { name }));
  const apply = row.cells[5].querySelector('button');
  setText(apply, t('sup.apply'));
  apply.setAttribute('aria-label', t('sup.apply_for', { name }));
  for (const button of row.cells[6].querySelectorAll('button')) {
    const mode = button.dataset.mode;
    setText(button, t(`monitor.${mode}`));
    button.setAttribute('aria-label', t(`monitor.${mode}_for`, { name }));
    button.disabled = a.state !== 'on_call';
    button.setAttribute('aria-pressed', String(watched?.supervisor === myLogin && watched?.mode === mode));
  }
  const stop = row.cells[6].querySelector('[data-stop]');
  setText(stop, t('monitor.stop'));
  stop.setAttribute('aria-label', t('monitor.stop_for', { name }));
  stop.hidden = !(watched && watched.supervisor === myLogin);
  const before = lastStatus.get(a.login);
  if (before && before !== a.status) announce('status-live', t('sup.agent_now', { name, what: word('status', a.status) }));
  lastStatus.set(a.login, a.status);
}

function render() {
  if (!board) return;
  renderTiles(performance.now() - frameAt);
  renderQueues();
  syncRows($('agents'), board.agents, (a) => a.login, makeAgentRow, updateAgentRow);
  tick();
}

function tick() {
  if (!board) return;
  const since = performance.now() - frameAt;
  const longest = longestWaitMs(since);
  tile('longest_wait', duration(longest), longest === null ? 'ok' : level('longest_wait', longest));
  for (const cell of document.querySelectorAll('#queues td[data-ms], #callers td[data-ms], #agents td[data-ms]')) {
    const ms = cell.dataset.ms === '' ? null : Number(cell.dataset.ms) + since;
    setText(cell, duration(ms));
    if (cell.classList.contains('wait')) {
      const lvl = ms === null ? '' : level('longest_wait', ms);
      if (lvl) cell.parentElement.dataset.level = lvl;
    }
  }
}

async function onAgentsClick(ev) {
  const button = ev.target.closest('button');
  const row = button?.closest('tr');
  if (!button || !row) return;
  const login = row.dataset.login;
  showError('');
  try {
    if (button.hasAttribute('data-stop')) {
      await api('DELETE', '/api/supervisor/monitor');
      announce('status-live', t('sup.monitor_stopped', { name: login }));
    } else if (button.dataset.mode) {
      await api('POST', '/api/supervisor/monitor', { agent: login, mode: button.dataset.mode });
      announce('status-live', t('sup.monitor_started', { mode: t(`monitor.${button.dataset.mode}`), name: login }));
    } else if (button.hasAttribute('data-apply')) {
      const choice = row.querySelector('select').value;
      const agent = board.agents.find((a) => a.login === login);
      let body;
      if (choice.startsWith('break:')) body = { status: 'break', reason: choice.slice(6) };
      else if (choice === 'available' && agent?.status === 'logged_out') body = { status: 'login' };
      else body = { status: choice };
      await api('POST', `/api/supervisor/agents/${encodeURIComponent(login)}/status`, body);
    }
  } catch (e) {
    showError(e.message);
  }
}

async function loadDialplan() {
  try {
    showDialplan(await api('GET', '/api/dialplan'));
  } catch (e) {
    setText($('dp-status'), e.message);
  }
}

function showDialplan(d) {
  setText($('dp-path'), d.path || '—');
  setText($('dp-version'), d.version || '—');
  setText($('dp-loaded'), d.loaded_at_ms ? new Date(d.loaded_at_ms).toLocaleString(document.documentElement.lang || undefined) : '—');
  setText($('dp-reloads'), number(d.reloads));
  setText($('dp-refusals'), number(d.refusals));
  const refused = d.last_refusal && d.last_refusal.length > 0;
  $('dp-diag').hidden = !refused;
  setText($('dp-diag'), refused ? d.last_refusal.join('\n') : '');
}

async function reload() {
  const button = $('dp-reload');
  button.disabled = true;
  setText($('dp-status'), t('dialplan.reloading'));
  try {
    const d = await api('POST', '/api/dialplan/reload');
    showDialplan(d);
    setText($('dp-status'), t('dialplan.reloaded', { version: d.version }));
  } catch (e) {
    setText($('dp-status'), t('dialplan.refused'));
    $('dp-diag').hidden = false;
    setText($('dp-diag'), e.message);
  } finally {
    button.disabled = false;
  }
}

async function main() {
  const me = await start('supervisor');
  if (!me) return;
  myLogin = me.login;
  softphone(me, 'supervisor');
  $('phone-monitor-help').hidden = false;
  $('agents').addEventListener('click', onAgentsClick);
  $('dp-reload').addEventListener('click', reload);
  onLang(render);
  loadDialplan();
  setInterval(loadDialplan, 30_000);
  try {
    board = await api('GET', '/api/supervisor/wallboard');
    frameAt = performance.now();
    render();
  } catch (e) {
    showError(e.message);
  }
  everySecond(tick);
  liveFeed((frame) => {
    if (frame.type !== 'wallboard') return;
    board = frame.data;
    frameAt = performance.now();
    render();
  });
}

main();
