// The login page: language choice (kept in localStorage), sign-in, and the
// way to the page for the user's role (or the page asked for in `?next=`).
import { api, loadTranslations, t } from '/static/console.js';

const PAGES = ['/agent', '/supervisor', '/reports', '/admin'];

function home(me) {
  const next = new URLSearchParams(location.search).get('next');
  if (PAGES.includes(next)) return next;
  if (me.role === 'admin') return '/admin';
  if (me.role === 'supervisor') return '/supervisor';
  return '/agent';
}

async function main() {
  await loadTranslations();
  const form = document.getElementById('login-form');
  const error = document.getElementById('login-error');
  const login = document.getElementById('login');
  const password = document.getElementById('password');
  try {
    // Already signed in: straight on.
    const res = await fetch('/api/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (res.ok) { location.replace(home(await res.json())); return; }
  } catch (_) { /* not signed in */ }
  login.focus();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    for (const input of [login, password]) input.removeAttribute('aria-invalid');
    if (!login.value.trim() || !password.value) {
      error.textContent = t('login.missing');
      (login.value.trim() ? password : login).setAttribute('aria-invalid', 'true');
      (login.value.trim() ? password : login).focus();
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const me = await api('POST', '/api/login', { login: login.value.trim(), password: password.value });
      password.value = '';
      location.assign(home(me));
    } catch (e) {
      error.textContent = e.status === 401 ? t('login.refused') : e.message;
      password.value = '';
      password.setAttribute('aria-invalid', 'true');
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
}

main();
