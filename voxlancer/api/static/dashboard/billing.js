// Billing: the balance and today's spend, the ledger, and how credit is added.
import { api, apiPage } from './api.js';
import { h, messageBox, table, when } from './dom.js';

const dollars = (amount) => `$${Number(amount).toFixed(2)}`;

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
      balance.replaceChildren(...[['Balance', b.balance], ['Spent today', b.spent_today],
        ['Daily limit', b.daily_spend_limit], ['Needed to call', b.min_balance]].map(([label, value]) =>
        h('div', {}, h('dt', {}, label), h('dd', {}, dollars(value)))));
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

  main.append(h('h1', {}, 'Billing'), message.el, balance,
    h('section', { class: 'card', 'aria-labelledby': 'credit-h' }, h('h2', { id: 'credit-h' }, 'Adding credit'),
      h('p', {}, 'Card payments in the dashboard are not available on this server yet. ',
        'Programs can add credit with a card through the API (POST /api/billing/add-credit) ',
        'when the operator has configured Stripe; otherwise the operator adds credit for you.')),
    h('section', { 'aria-labelledby': 'ledger-h' }, h('h2', { id: 'ledger-h' }, 'Transactions'), list, pager));
  loadBalance();
  loadLedger();
}
