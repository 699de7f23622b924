// A campaign's results: outcomes, key-press responses, the answered rate, minutes and cost over
// time. Drawn from three small answers (the campaign, its stats, its timeline: one aggregate on
// the server), never from the calls themselves; read again as the live stream reports changes.
import { api } from './api.js';
import { h, messageBox, table } from './dom.js';
import { follow } from './campaigns.js';
import { barList, timeChart } from './chart.js';
import { dollars, units } from './money.js';

export const OUTCOMES = [['called', 'Answered'], ['machine', 'Answering machine'],
  ['no_answer', 'No answer'], ['failed', 'Failed'], ['opted_out', 'Opted out'],
  ['skipped', 'Skipped'], ['pending', 'Waiting'], ['queued', 'Calling now']];
const STEP = { hour: 3600e3, day: 86400e3 };
const REFRESH_MS = 5000;

const percent = (share) => `${Math.round(share * 100)}%`;
const minutes = (seconds) => (seconds / 60).toFixed(1);

// The labels a campaign's keys record (a transfer without one records "transfer").
export function responseLabels(campaign, stats) {
  const labels = new Set(Object.values(campaign.responses || {})
    .map((r) => r.label || (r.transfer_to ? 'transfer' : null)).filter(Boolean));
  for (const label of Object.keys(stats ? stats.responses : {})) labels.add(label);
  return [...labels].sort();
}

export function responsesChart(campaign, stats) {
  const labels = responseLabels(campaign, stats);
  if (!labels.length) {
    return h('p', { class: 'empty' }, 'This campaign asks for no key presses after its message.');
  }
  const keyOf = {};
  for (const [key, r] of Object.entries(campaign.responses || {})) {
    const label = r.label || (r.transfer_to ? 'transfer' : null);
    if (label) keyOf[label] = key;
  }
  const items = labels.map((label) => ({ key: label, value: stats.responses[label] || 0,
    label: keyOf[label] ? `${label} (key ${keyOf[label]})` : label }));
  const answered = items.reduce((sum, i) => sum + i.value, 0);
  return h('div', {}, barList('Contacts by key pressed', items),
    answered ? null : h('p', { class: 'muted' }, 'Nobody has pressed a response key yet.'));
}

function overTime(timeline) {
  const points = timeline.buckets.map((b) => ({ ...b, start: new Date(b.start) }));
  if (!points.length) {
    return [h('p', { class: 'empty' }, 'No calls yet. These charts fill in as the campaign places calls.')];
  }
  const by = timeline.bucket;
  const format = by === 'hour'
    ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric' };
  const when = (date) => date.toLocaleString([], { ...format, timeZone: timeline.timezone });
  const step = STEP[by];
  const rows = points.map((p) => h('tr', {}, h('th', { scope: 'row' }, when(p.start)),
    h('td', {}, p.attempts), h('td', {}, p.answered), h('td', {}, p.machine),
    h('td', {}, percent(p.answered / p.attempts)), h('td', {}, minutes(p.billed_seconds)),
    h('td', {}, dollars(p.cost))));
  return [
    h('p', { class: 'muted' }, `By the ${by}, in the campaign’s time zone (${timeline.timezone}); `,
      `only ${by}s with calls are shown.`),
    h('div', { class: 'charts' },
      timeChart(`Answered rate by ${by}`, points, { kind: 'line', value: (p) => p.answered / p.attempts,
        format: percent, step, when, top: 1 }),
      timeChart(`Calls placed by ${by}`, points, { value: (p) => p.attempts, format: String, step, when }),
      timeChart(`Minutes billed by ${by}`, points, { value: (p) => p.billed_seconds / 60,
        format: (v) => v.toFixed(1), step, when }),
      timeChart(`Cost by ${by}`, points, { value: (p) => units(p.cost), format: dollars, step, when })),
    h('details', {}, h('summary', {}, 'The same numbers as a table'),
      table(`Calls by ${by}`, ['Time', 'Calls', 'Answered', 'Machine', 'Answered rate', 'Minutes', 'Cost'], rows)),
  ];
}

// The calls' totals (the rate is of calls, as in the chart; stats.answered_rate is of contacts).
function totals(timeline) {
  const sum = (field) => timeline.buckets.reduce((n, b) => n + b[field], 0);
  const cost = timeline.buckets.reduce((n, b) => n + units(b.cost), 0);
  return h('dl', { class: 'counters' }, [
    ['Calls placed', sum('attempts'), 'placed'], ['Answered', sum('answered'), 'answered'],
    ['Answered rate', sum('attempts') ? percent(sum('answered') / sum('attempts')) : '—', 'rate'],
    ['Minutes billed', minutes(sum('billed_seconds')), 'minutes'], ['Cost', dollars(cost), 'cost'],
  ].map(([label, value, key]) => h('div', {}, h('dt', {}, label), h('dd', { 'data-total': key }, value))));
}

export function resultsPage(main, customer, id) {
  const message = messageBox();
  const heading = h('h1', {}, 'Results');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(heading, h('p', {}, h('a', { href: `#/campaigns/${id}` }, '← Campaign')), message.el, body);
  let campaign = null;
  let pending = null;
  let readAt = 0;

  async function load() {
    try {
      const [stats, timeline] = await Promise.all([api('GET', `/api/campaigns/${id}/stats`),
        api('GET', `/api/campaigns/${id}/timeline`)]);
      if (!campaign) campaign = await api('GET', `/api/campaigns/${id}`);
      heading.textContent = `Results: ${campaign.name}`;
      document.title = `Results: ${campaign.name} · Voxlancer`;
      const outcomes = OUTCOMES.map(([key, label]) => ({ key, label, value: stats[key] }));
      body.replaceChildren(totals(timeline),
        h('section', { 'aria-labelledby': 'outcomes-h' }, h('h2', { id: 'outcomes-h' }, 'Outcomes'),
          h('p', { class: 'muted' }, `${stats.total_contacts} contacts, by where each one stands.`),
          barList('Contacts by outcome', outcomes)),
        h('section', { 'aria-labelledby': 'responses-h' }, h('h2', { id: 'responses-h' }, 'Key-press responses'),
          responsesChart(campaign, stats)),
        h('section', { 'aria-labelledby': 'time-h' }, h('h2', { id: 'time-h' }, 'Over time'), overTime(timeline)),
        h('p', {}, h('a', { class: 'button', href: `/api/campaigns/${id}/results.csv`, download: '' },
          'Download every contact’s result (CSV)')));
      body.setAttribute('aria-busy', 'false');
    } catch (err) { message.error(err); }
  }

  // Progress events say something changed; the charts are read again at most every 5 s.
  function changed() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; readAt = Date.now() + REFRESH_MS; load(); },
      Math.max(0, readAt - Date.now()));
  }
  readAt = Date.now() + REFRESH_MS;
  load();
  let seen = 0;
  const close = follow(`/api/campaigns/${id}/events`, () => { if (seen++) changed(); });
  return () => { close(); clearTimeout(pending); };
}
