// The reports page: a period and a grouping, the report from
// `/api/reports` drawn as inline SVG charts (calls, service level against
// the 80/20 target, satisfaction trend and distribution) with the same
// figures in a table, and the CSV download of `/api/reports/csv`; below,
// the wrap-ups of the same days by disposition code
// (`/api/reports/wrap-ups`, JSON and CSV).
//
// Owns the charts. Must never be the only way to read a figure: every chart
// has a text summary (aria-label) and the table holds every number.

import {
  start, api, t, word, el, setText, showError, percent, seconds, number, onLang, fieldError, duration,
} from '/static/console.js';

const $ = (id) => document.getElementById(id);
const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 260;
const M = { top: 16, right: 16, bottom: 64, left: 56 };
const COLOURS = ['#0b5cad', '#1c7a3a', '#b3261e', '#8a5a00'];

let report = null;
let wrapUps = null;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function frame(summary, max, format) {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary });
  root.append(svg('title', {}, summary));
  const plotH = H - M.top - M.bottom;
  for (let i = 0; i <= 4; i += 1) {
    const v = (max * i) / 4;
    const y = M.top + plotH - (plotH * i) / 4;
    root.append(svg('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, stroke: '#c9d0d8', 'stroke-width': 1 }));
    root.append(svg('text', { x: M.left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5a6470' }, format(v)));
  }
  return root;
}

function yOf(value, max) {
  const plotH = H - M.top - M.bottom;
  return M.top + plotH - (max > 0 ? (plotH * value) / max : 0);
}

function xLabels(root, labels, band) {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((label, i) => {
    if (i % every !== 0) return;
    const x = M.left + band * i + band / 2;
    const y = H - M.bottom + 14;
    root.append(svg('text', {
      x, y, 'text-anchor': 'end', 'font-size': 11, fill: '#1b1f24', transform: `rotate(-35 ${x} ${y})`,
    }, shortLabel(label)));
  });
}

function legend(series) {
  return el('ul', { class: 'legend' }, series.map((s, i) => el('li', {},
    el('span', { class: `swatch s${i}`, 'aria-hidden': 'true' }), s)));
}

/** A short axis label: `2026-11-28 10:00 +01:00` -> `11-28 10:00`,
 *  `2026-11-28` -> `11-28`; others as they are. */
export function shortLabel(label) {
  const m = /^\d{4}-(\d{2})-(\d{2})(?: (\d{2}:\d{2}))?/.exec(label);
  if (!m) return label;
  return m[3] ? `${m[1]}-${m[2]} ${m[3]}` : `${m[1]}-${m[2]}`;
}

/** The top of a count axis: four grid steps of a whole, round size. */
export function countMax(max) {
  const quarter = Math.max(1, max / 4);
  const step = 10 ** Math.floor(Math.log10(quarter));
  const tick = [1, 2, 2.5, 5, 10].map((m) => m * step).find((t) => t >= quarter && Number.isInteger(t)) ?? 10 * step;
  return 4 * tick;
}

/** Bars side by side for each group; `series`: [{ name, values }]. */
export function barChart(labels, series, format, summary) {
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  const nice = countMax(max);
  const root = frame(summary, nice, format);
  const band = (W - M.left - M.right) / Math.max(1, labels.length);
  const barW = Math.max(1, (band * 0.8) / series.length);
  series.forEach((s, si) => {
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x = M.left + band * i + band * 0.1 + barW * si;
      const y = yOf(v, nice);
      const attrs = { x, y, width: barW, height: Math.max(0, H - M.bottom - y), fill: COLOURS[si % COLOURS.length] };
      // A second signal besides colour: every other series is outlined.
      if (si % 2 === 1) Object.assign(attrs, { stroke: '#1b1f24', 'stroke-width': 1 });
      root.append(svg('rect', attrs, svg('title', {}, `${labels[i]} · ${s.name}: ${format(v)}`)));
    });
  });
  xLabels(root, labels, band);
  return [root, legend(series.map((s) => s.name))];
}

/** One line with points; `target` draws a dashed reference line. */
export function lineChart(labels, values, max, format, summary, target) {
  const root = frame(summary, max, format);
  const band = (W - M.left - M.right) / Math.max(1, labels.length);
  if (target !== undefined) {
    const y = yOf(target.value, max);
    root.append(svg('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, stroke: '#b3261e', 'stroke-width': 2, 'stroke-dasharray': '6 4' }));
    root.append(svg('text', { x: W - M.right, y: y - 4, 'text-anchor': 'end', 'font-size': 11, fill: '#b3261e' }, target.label));
  }
  const points = values.map((v, i) => (v === null ? null : [M.left + band * i + band / 2, yOf(v, max)]));
  let path = '';
  let pen = false;
  for (const p of points) {
    if (!p) { pen = false; continue; }
    path += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)} `;
    pen = true;
  }
  if (path) root.append(svg('path', { d: path.trim(), fill: 'none', stroke: COLOURS[0], 'stroke-width': 2 }));
  points.forEach((p, i) => {
    if (!p) return;
    root.append(svg('circle', { cx: p[0], cy: p[1], r: 4, fill: COLOURS[0] },
      svg('title', {}, `${labels[i]}: ${format(values[i])}`)));
  });
  xLabels(root, labels, band);
  return [root];
}

function groupLabel(group) {
  if (!report) return group;
  if (['queue', 'topic', 'language', 'agent'].includes(report.by)) {
    return report.by === 'topic' ? word('topic', group) : report.by === 'language' ? word('lang', group) : group;
  }
  return group;
}

function draw() {
  if (!report) return;
  const rows = report.rows;
  const labels = rows.map((r) => groupLabel(r.group));
  const count = (v) => number(v);
  const offered = rows.map((r) => r.offered);
  const answered = rows.map((r) => r.answered);
  const abandoned = rows.map((r) => r.abandoned);
  const total = report.total;

  $('ch-volume').replaceChildren(...barChart(labels, [
    { name: t('rep.offered'), values: offered },
    { name: t('rep.answered'), values: answered },
    { name: t('rep.abandoned'), values: abandoned },
  ], count, t('chart.volume_summary', { offered: number(total.offered), answered: number(total.answered), abandoned: number(total.abandoned) })));

  $('ch-sl').replaceChildren(...lineChart(labels, rows.map((r) => r.service_level), 1, percent,
    t('chart.sl_summary', { sl: percent(total.service_level) }), { value: 0.8, label: t('chart.target') }));

  $('ch-sat').replaceChildren(...lineChart(labels, rows.map((r) => r.satisfaction), 10, (v) => number(v, 1),
    t('chart.sat_summary', { score: total.satisfaction === null ? '—' : number(total.satisfaction, 1), surveys: number(total.surveys) })));

  const scores = total.scores || [];
  $('ch-dist').replaceChildren(...barChart(scores.map((_, i) => String(i)), [{ name: t('rep.surveys'), values: scores }],
    count, t('chart.dist_summary', { surveys: number(total.surveys) })));

  const columns = [
    ['offered', 'rep.offered', number], ['answered', 'rep.answered', number], ['abandoned', 'rep.abandoned', number],
    ['abandon_rate', 'rep.abandon_rate', percent], ['service_level', 'rep.service_level', percent],
    ['asa_s', 'tile.asa', seconds], ['aht_s', 'tile.aht', seconds], ['longest_wait_s', 'col.longest_wait', seconds],
    ['surveys', 'rep.surveys', number], ['satisfaction', 'rep.satisfaction', (v) => (v === null ? '—' : number(v, 2))],
  ];
  fillTable($('rep-table'), t('rep.table'), word('by', report.by), columns, rows, labels, total);
}

/** A table of `rows` (headed `labels`) and their `total`; `columns`:
 *  [field, i18n key, format]. */
function fillTable(table, caption, firstHeader, columns, rows, labels, total) {
  const head = el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, firstHeader),
    columns.map(([, key]) => el('th', { scope: 'col', class: 'num' }, t(key)))));
  const line = (label, r, isTotal) => el('tr', isTotal ? { class: 'total' } : {},
    el('th', { scope: 'row' }, label), columns.map(([name, , f]) => el('td', { class: 'num' }, f(r[name]))));
  const body = el('tbody', {}, rows.map((r, i) => line(labels[i], r, false)), line(t('rep.total'), total, true));
  table.replaceChildren(el('caption', { class: 'visually-hidden' }, caption), head, body);
}

function drawWrapUps() {
  if (!wrapUps) return;
  const columns = [['wrap_ups', 'rep.wrapups_count', number], ['wrap_up_ms', 'rep.wrapup_time', duration]];
  const labels = wrapUps.rows.map((r) => word('disposition', r.disposition_code));
  fillTable($('rep-wrapups'), t('rep.wrapups'), t('agent.disposition'), columns, wrapUps.rows, labels, wrapUps.total);
  $('rep-wrapups').hidden = wrapUps.rows.length === 0;
  $('rep-wrapups-none').hidden = wrapUps.rows.length > 0;
}

function params() {
  const p = new URLSearchParams({ from: $('rep-from').value, to: $('rep-to').value, by: $('rep-by').value });
  const q = $('rep-question').value.trim();
  if (q) p.set('question', q);
  return p;
}

function updateCsv() {
  const p = params();
  $('rep-csv').href = `/api/reports/csv?${p}`;
  const days = new URLSearchParams({ from: p.get('from'), to: p.get('to'), format: 'csv' });
  $('rep-wrapups-csv').href = `/api/reports/wrap-ups?${days}`;
}

function validate() {
  const from = $('rep-from');
  const to = $('rep-to');
  fieldError(from, from.value ? '' : t('rep.date_missing'));
  fieldError(to, to.value ? '' : t('rep.date_missing'));
  if (from.value && to.value && from.value > to.value) fieldError(to, t('rep.to_before_from'));
  return !from.getAttribute('aria-invalid') && !to.getAttribute('aria-invalid');
}

async function run(ev) {
  ev?.preventDefault();
  const error = $('rep-error');
  error.hidden = true;
  if (!validate()) return;
  setText($('rep-status'), t('rep.loading'));
  try {
    const p = params();
    const days = new URLSearchParams({ from: p.get('from'), to: p.get('to') });
    [report, wrapUps] = await Promise.all([api('GET', `/api/reports?${p}`), api('GET', `/api/reports/wrap-ups?${days}`)]);
    $('rep-results').hidden = false;
    draw();
    drawWrapUps();
    setText($('rep-status'), t('rep.loaded', { rows: number(report.rows.length) }));
  } catch (e) {
    const field = /^from\b/.test(e.message) ? $('rep-from') : /^to\b/.test(e.message) ? $('rep-to') : null;
    if (field) fieldError(field, e.message);
    else { error.textContent = e.message; error.hidden = false; }
    setText($('rep-status'), '');
  }
}

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function main() {
  const me = await start('supervisor');
  if (!me) return;
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86_400_000);
  $('rep-from').value = isoDay(weekAgo);
  $('rep-to').value = isoDay(today);
  for (const id of ['rep-from', 'rep-to', 'rep-by', 'rep-question']) $(id).addEventListener('input', updateCsv);
  $('report-form').addEventListener('submit', run);
  onLang(() => { draw(); drawWrapUps(); });
  updateCsv();
  run();
}

main();
