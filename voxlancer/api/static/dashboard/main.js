// The dashboard's shell: who is signed in, the navigation, and the page for the URL's hash.
import { api, setSession } from './api.js';
import { clear, h } from './dom.js';
import { signInPage } from './auth.js';
import { campaignsPage } from './campaigns.js';
import { campaignPage } from './campaign.js';
import { resultsPage } from './results.js';
import { campaignForm } from './campaign_form.js';
import { keysPage } from './keys.js';
import { dncPage } from './dnc.js';
import { callerIdsPage } from './caller_ids.js';
import { billingPage } from './billing.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
let customer = null;
let leave = null; // the current page's clean-up (closes its event streams)

const routes = [
  [/^#\/campaigns\/new$/, () => campaignForm(main, customer, null)],
  [/^#\/campaigns\/([0-9a-f-]{36})\/edit$/, (id) => campaignForm(main, customer, id)],
  [/^#\/campaigns\/([0-9a-f-]{36})$/, (id) => campaignPage(main, customer, id)],
  [/^#\/campaigns\/([0-9a-f-]{36})\/results$/, (id) => resultsPage(main, customer, id)],
  [/^#\/keys$/, () => keysPage(main)],
  [/^#\/dnc$/, () => dncPage(main)],
  [/^#\/caller-ids$/, () => callerIdsPage(main)],
  [/^#\/billing$/, () => billingPage(main)],
  [/^(#\/campaigns)?$/, () => campaignsPage(main)],
];

function showPage() {
  if (leave) leave();
  leave = null;
  clear(main);
  if (!customer) {
    signInPage(main, start);
    return;
  }
  const hash = location.hash === '#/' ? '' : location.hash;
  for (const [pattern, render] of routes) {
    const match = pattern.exec(hash);
    if (match) {
      leave = render(...match.slice(1)) || null;
      break;
    }
  }
  if (!main.firstChild) main.append(h('h1', { tabindex: -1 }, 'Not found'));
  for (const link of top.querySelectorAll('nav a')) {
    const current = hash.startsWith(link.getAttribute('href')) ||
      (hash === '' && link.getAttribute('href') === '#/campaigns');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // Move focus to the new page's heading, as a page load would, for screen readers and keys.
  const heading = main.querySelector('h1');
  if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
}

function signedOut() {
  customer = null;
  top.hidden = true;
  showPage();
}

async function signOut() {
  try { await api('DELETE', '/api/auth/session'); } finally { signedOut(); }
}

function shell() {
  clear(top);
  top.hidden = false;
  top.append(
    h('a', { class: 'brand', href: '#/campaigns' }, 'Voxlancer'),
    h('nav', { 'aria-label': 'Main' },
      h('a', { href: '#/campaigns' }, 'Campaigns'),
      h('a', { href: '#/caller-ids' }, 'Caller IDs'),
      h('a', { href: '#/keys' }, 'API keys'),
      h('a', { href: '#/dnc' }, 'Do-not-call'),
      h('a', { href: '#/billing' }, 'Billing')),
    h('div', { class: 'who' }, h('span', { class: 'muted' }, customer.email),
      h('button', { type: 'button', onclick: signOut }, 'Sign out')));
  if (customer.status === 'pending_review') {
    top.append(h('p', { class: 'banner', role: 'note' },
      'Your account is waiting for review. Every new account is checked by the operator ',
      'before it may place calls; you can already set up campaigns, upload contacts and ',
      'create API keys. Starting a campaign works once the account is approved.'));
  }
}

// Signed in (from the sign-in form, or a session cookie that survived a reload).
function start(session) {
  customer = session.customer;
  setSession(session.csrf_token, signedOut);
  shell();
  showPage();
}

window.addEventListener('hashchange', showPage);
api('GET', '/api/auth/session').then(start, () => signedOut());
