// Billing: the balance and today's spend, usage per day, adding credit, the ledger.
import { api, apiPage } from './api.js';
import { h, messageBox, table, when } from './dom.js';
import { timeChart } from './chart.js';
import { dollars, units } from './money.js';
import { creditSection } from './card.js';

const DAYS = 30;
const DAY_MS = 86400e3;

function usageSection() {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const section = h('section', { 'aria-labelledby': 'usage-h' },
    h('h2', { id: 'usage-h' }, `Usage, last ${DAYS} days`), body);
  section.load = async () => {
    // UTC days, as the ledger and the daily spend limit count them.
    const since = new Date(Date.now() - (DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
    const usage = await api('GET', `/api/billing/usage/daily?from=${since}`);
    if (!usage.days.length) {
      body.replaceChildren(h('p', { class: 'empty' },
        `No calls were charged in the last ${DAYS} days. Each day with answered calls shows here.`));
      return;
    }
    const points = usage.days.map((d) => ({ ...d, start: new Date(`${d.day}T00:00:00Z`) }));
    const day = (date) => date.toLocaleDateString([], { month: 'short', day: 'numeric', timeZone: 'UTC' });
    const spent = points.reduce((n, p) => n + units(p.total_spent), 0);
    const calls = points.reduce((n, p) => n + p.total_calls, 0);
    const minutes = points.reduce((n, p) => n + p.total_minutes, 0);
    const options = { step: DAY_MS, when: day, origin: new Date(`${since}T00:00:00Z`), slots: DAYS };
    body.replaceChildren(
      h('p', { 'data-usage': 'total' }, `${calls} charged calls, ${minutes.toFixed(2)} minutes, `,
        `${dollars(spent)} spent (UTC days).`),
      h('div', { class: 'charts' },
        timeChart('Minutes billed per day', points, { ...options, value: (p) => p.total_minutes,
          format: (v) => v.toFixed(1) }),
        timeChart('Spent per day', points, { ...options, value: (p) => units(p.total_spent), format: dollars })),
      h('details', {}, h('summary', {}, 'The same numbers as a table'),
        table('Usage per day', ['Day', 'Calls', 'Minutes', 'Spent'], points.map((p) => h('tr', {},
          h('th', { scope: 'row' }, day(p.start)), h('td', {}, p.total_calls),
          h('td', {}, p.total_minutes.toFixed(2)), h('td', {}, dollars(p.total_spent)))))));
  };
  return section;
}

export function billingPage(main) {
  const message = messageBox();
  const balance = h('dl', { class: 'counters' });
  const list = h('div');
  const pager = h('div', { class: 'actions pager' });
  const cursors = [null];
  let at = 0;

  async function loadBalance() {
    try {
      const b = await api('GET', '/api/billing/balance');
      balance.replaceChildren(...[['Balance', b.balance, 'balance'], ['Spent today', b.spent_today, 'spent'],
        ['Daily limit', b.daily_spend_limit, 'limit'], ['Needed to call', b.min_balance, 'minimum']].map(
        ([label, value, key]) => h('div', {}, h('dt', {}, label), h('dd', { 'data-balance': key }, dollars(value)))));
    } catch (err) { message.error(err); }
  }

  async function loadLedger() {
    try {
      const page = await apiPage(`/api/billing/transactions?limit=25${cursors[at] ? `&cursor=${encodeURIComponent(cursors[at])}` : ''}`);
      list.replaceChildren(page.items.length ? table('Transactions', ['When', 'What', 'Amount', 'Balance after'],
        page.items.map((t) => h('tr', {}, h('td', {}, when(t.created_at)), h('td', {}, t.description || t.type.replace('_', ' ')),
          h('td', { class: Number(t.amount) < 0 ? 'debit' : 'credit' }, t.amount), h('td', {}, t.balance_after))))
        : h('p', { class: 'empty' }, 'No transactions yet. Credit added and every call charged appear here.'));
      pager.replaceChildren(
        h('button', { type: 'button', disabled: at === 0, onclick() { at -= 1; loadLedger(); } }, 'Previous'),
        h('button', { type: 'button', disabled: !page.next, onclick() { cursors[at + 1] = page.next; at += 1; loadLedger(); } }, 'Next'));
    } catch (err) { message.error(err); }
  }

  const usage = usageSection();
  const credited = () => { loadBalance(); cursors.length = 1; at = 0; loadLedger(); };
  main.append(h('h1', {}, 'Billing'), message.el, balance, creditSection(credited), usage,
    h('section', { 'aria-labelledby': 'ledger-h' }, h('h2', { id: 'ledger-h' }, 'Transactions'), list, pager));
  loadBalance();
  usage.load().catch((err) => message.error(err));
  loadLedger();
}
