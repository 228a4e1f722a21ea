// The administrator's page: console users; the queue and agent files
// (queues, agents and their skills) with what they define; the holiday
// calendars. The server validates every write as `ivr check` would and the
// page shows its message next to the field it is about.
//
// Owns the mapping of a server message to a field. Must never keep a
// password after the request, and never apply anything itself.

import {
  start, api, t, word, el, setText, syncRows, announce, showError, onLang, fieldError, yesNo,
} from '/static/console.js';

const $ = (id) => document.getElementById(id);
const USER_FIELDS = ['login', 'display_name', 'role', 'agent_login', 'password'];

let me = null;
let users = [];
let editing = null;       // the login being edited, or null when adding
let acd = null;

// Users ----------------------------------------------------------------------

/** The form field a server message is about (`null`: the form as a whole). */
export function userFieldOf(reason) {
  const text = reason.toLowerCase();
  if (text.includes('agent login')) return 'agent_login';
  if (text.includes('display name')) return 'display_name';
  if (text.includes('password')) return 'password';
  if (text.includes('role')) return 'role';
  if (text.includes('login')) return 'login';
  return null;
}

function clearUserErrors() {
  for (const f of USER_FIELDS) fieldError($(`u-${f}`), '');
  setText($('user-form-error'), '');
}

function renderUsers() {
  syncRows($('users'), users, (u) => u.login, () => el('tr', {},
    el('th', { scope: 'row' }), el('td'), el('td'), el('td'), el('td'),
    el('td', {}, el('div', { class: 'row' },
      el('button', { type: 'button', class: 'small', 'data-action': 'edit' }),
      el('button', { type: 'button', class: 'small danger', 'data-action': 'remove' })))), (row, u) => {
    row.dataset.testid = `user-row-${u.login}`;
    setText(row.cells[0], u.login);
    setText(row.cells[1], u.display_name);
    setText(row.cells[2], word('role', u.role));
    setText(row.cells[3], u.agent_login ?? '');
    setText(row.cells[4], yesNo(!u.disabled));
    const [edit, remove] = row.cells[5].querySelectorAll('button');
    setText(edit, t('adm.edit'));
    edit.setAttribute('aria-label', t('adm.edit_for', { name: u.login }));
    const confirming = remove.dataset.confirm === 'yes';
    setText(remove, confirming ? t('adm.confirm_remove') : t('adm.remove'));
    remove.setAttribute('aria-label', confirming ? t('adm.confirm_remove_for', { name: u.login }) : t('adm.remove_for', { name: u.login }));
    remove.disabled = u.login === me.login;
  });
}

async function loadUsers() {
  try {
    users = await api('GET', '/api/admin/users');
    renderUsers();
  } catch (e) {
    showError(e.message);
  }
}

function editUser(login) {
  const u = users.find((x) => x.login === login);
  if (!u) return;
  editing = login;
  clearUserErrors();
  $('u-login').value = u.login;
  $('u-login').readOnly = true;
  $('u-display_name').value = u.display_name;
  $('u-role').value = u.role;
  $('u-agent_login').value = u.agent_login ?? '';
  $('u-password').value = '';
  $('u-disabled').checked = u.disabled;
  setText($('user-form-h'), t('adm.edit_user', { name: u.login }));
  $('user-cancel').hidden = false;
  $('u-display_name').focus();
}

function resetUserForm() {
  editing = null;
  $('user-form').reset();
  $('u-login').readOnly = false;
  clearUserErrors();
  setText($('user-form-h'), t('adm.add_user'));
  $('user-cancel').hidden = true;
}

async function onUsersClick(ev) {
  const button = ev.target.closest('button');
  const row = button?.closest('tr');
  if (!button || !row) return;
  const login = row.dataset.key;
  if (button.dataset.action === 'edit') { editUser(login); return; }
  if (button.dataset.confirm !== 'yes') {
    button.dataset.confirm = 'yes';
    renderUsers();
    button.focus();
    return;
  }
  try {
    await api('DELETE', `/api/admin/users/${encodeURIComponent(login)}`);
    announce('status-live', t('adm.removed', { name: login }));
    await loadUsers();
    $('users-h').focus();
  } catch (e) {
    showError(e.message);
  }
}

async function saveUser(ev) {
  ev.preventDefault();
  clearUserErrors();
  const value = (f) => $(`u-${f}`).value.trim();
  const agentLogin = value('agent_login') || null;
  try {
    if (editing) {
      const patch = {
        display_name: value('display_name'), role: value('role'), agent_login: agentLogin, disabled: $('u-disabled').checked,
      };
      if ($('u-password').value) patch.password = $('u-password').value;
      await api('PATCH', `/api/admin/users/${encodeURIComponent(editing)}`, patch);
      announce('status-live', t('adm.saved_user', { name: editing }));
    } else {
      const body = {
        login: value('login'), display_name: value('display_name'), role: value('role'),
        password: $('u-password').value, agent_login: agentLogin,
      };
      await api('POST', '/api/admin/users', body);
      announce('status-live', t('adm.added_user', { name: body.login }));
    }
    resetUserForm();
    await loadUsers();
  } catch (e) {
    const field = userFieldOf(e.message);
    if (field) {
      fieldError($(`u-${field}`), e.message);
      $(`u-${field}`).focus();
    } else {
      setText($('user-form-error'), e.message);
    }
  }
}

// Queues, agents, skills -------------------------------------------------------

function renderAcd() {
  if (!acd) return;
  setText($('queues-file'), acd.files.queues_file);
  setText($('agents-file'), acd.files.agents_file);
  syncRows($('acd-queues'), acd.queues, (q) => q.name, () => el('tr', {},
    el('th', { scope: 'row' }), el('td'), el('td'), el('td', { class: 'num' }), el('td', { class: 'num' })), (row, q) => {
    setText(row.cells[0], q.name);
    setText(row.cells[1], word('strategy', q.strategy));
    setText(row.cells[2], q.skills.join(', '));
    setText(row.cells[3], String(q.wrap_up_secs));
    setText(row.cells[4], String(q.max_wait_secs));
  });
  syncRows($('acd-agents'), acd.agents, (a) => a.login, () => el('tr', {},
    el('th', { scope: 'row' }), el('td'), el('td'), el('td')), (row, a) => {
    setText(row.cells[0], a.login);
    setText(row.cells[1], a.display_name);
    setText(row.cells[2], a.queues.length ? a.queues.join(', ') : t('adm.all_queues'));
    setText(row.cells[3], a.skills.map(([skill, value, lvl]) => `${skill}=${value} (${lvl})`).join(', '));
  });
}

async function loadAcd() {
  try {
    acd = await api('GET', '/api/admin/acd');
    $('queues_toml').value = acd.files.queues_toml;
    $('agents_toml').value = acd.files.agents_toml;
    renderAcd();
  } catch (e) {
    showError(e.message);
  }
}

/** Puts the caret on `line` of a textarea (1-based) so the error is in view. */
function goToLine(area, line) {
  const lines = area.value.split('\n');
  const startAt = lines.slice(0, Math.max(0, line - 1)).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(startAt, startAt + (lines[line - 1]?.length ?? 0));
}

async function saveAcd(ev) {
  ev.preventDefault();
  const queues = $('queues_toml');
  const agents = $('agents_toml');
  fieldError(queues, '');
  fieldError(agents, '');
  try {
    acd = await api('PUT', '/api/admin/acd', { queues_toml: queues.value, agents_toml: agents.value });
    renderAcd();
    announce('status-live', t('adm.acd_applied'));
  } catch (e) {
    // "agents.toml:12:3: error: ..." names the file and line.
    const m = /^(.*?):(\d+):(\d+):/.exec(e.message);
    const file = m ? m[1] : '';
    const area = acd && file === acd.files.agents_file ? agents : acd && file === acd.files.queues_file ? queues : null;
    if (area) {
      fieldError(area, e.message);
      goToLine(area, Number(m[2]));
    } else {
      fieldError(queues, e.message);
      queues.focus();
    }
  }
}

// Calendars --------------------------------------------------------------------

async function loadCalendars() {
  let files;
  try {
    files = await api('GET', '/api/admin/calendars');
  } catch (e) {
    showError(e.message);
    return;
  }
  const forms = files.map((file, i) => {
    const id = `cal-${i}`;
    const area = el('textarea', { id, class: 'code', spellcheck: 'false', 'aria-describedby': `${id}-error`, 'data-testid': `calendar-${file.name}` });
    area.value = file.toml;
    const form = el('form', { class: 'field', novalidate: true, 'data-name': file.name },
      el('label', { for: id }, file.name),
      area,
      el('span', { id: `${id}-error`, class: 'error' }),
      el('div', {}, el('button', { type: 'submit', class: 'primary', 'aria-label': t('adm.save_calendar', { name: file.name }) }, t('adm.save_apply'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fieldError(area, '');
      try {
        await api('PUT', `/api/admin/calendars/${encodeURIComponent(file.name)}`, { toml: area.value });
        announce('status-live', t('adm.calendar_applied', { name: file.name }));
      } catch (e) {
        fieldError(area, e.message);
        const m = /:(\d+):\d+/.exec(e.message);
        if (m) goToLine(area, Number(m[1])); else area.focus();
      }
    });
    return form;
  });
  $('calendars').replaceChildren(...forms);
  if (!files.length) $('calendars').append(el('p', { class: 'muted' }, t('adm.no_calendars')));
}

async function main() {
  me = await start('admin');
  if (!me) return;
  $('users').addEventListener('click', onUsersClick);
  $('users').addEventListener('focusout', (ev) => {
    const b = ev.target.closest?.('button[data-confirm="yes"]');
    if (b && !b.contains(ev.relatedTarget)) { delete b.dataset.confirm; renderUsers(); }
  });
  $('user-form').addEventListener('submit', saveUser);
  $('user-cancel').addEventListener('click', resetUserForm);
  $('acd-form').addEventListener('submit', saveAcd);
  onLang(() => { renderUsers(); renderAcd(); setText($('user-form-h'), editing ? t('adm.edit_user', { name: editing }) : t('adm.add_user')); });
  await Promise.all([loadUsers(), loadAcd(), loadCalendars()]);
}

main();
