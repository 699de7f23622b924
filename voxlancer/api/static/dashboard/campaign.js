// One campaign: live status and counters, the lifecycle buttons, CSV upload, key-press
// responses, its contacts.
import { api, apiPage, upload } from './api.js';
import { badge, busy, confirmAction, field, h, messageBox, select, table, when } from './dom.js';
import { follow, progressBar } from './campaigns.js';
import { phoneSection } from './phone.js';
import { responseLabels, responsesChart } from './results.js';

const STATUSES = ['pending', 'queued', 'called', 'failed', 'no_answer', 'opted_out', 'skipped'];
const COUNTERS = [['pending', 'Waiting'], ['queued', 'Calling now'], ['called', 'Answered'],
  ['no_answer', 'No answer'], ['failed', 'Failed'], ['machine', 'Answering machine'],
  ['opted_out', 'Opted out'], ['skipped', 'Skipped']];
// Which actions a status allows, with the question asked before each.
const ACTIONS = {
  start: ['Start', 'Start calling this campaign’s contacts now (within its calling hours)?', ['draft']],
  pause: ['Pause', 'Pause this campaign? Calls in progress finish; no new ones start.', ['running']],
  resume: ['Resume', 'Resume calling this campaign?', ['paused']],
  stop: ['Stop', 'Stop this campaign for good? It cannot be started again.', ['running', 'paused']],
  'retry-failed': ['Retry failed', 'Call the failed and unanswered contacts again?', ['running', 'paused', 'completed']],
};

function summary(event) {
  const stats = event.stats;
  return h('div', {},
    h('p', { class: 'status-line' }, 'Status: ', badge(event.status),
      event.pause_reason ? h('span', { class: 'muted' }, ` (${event.pause_reason})`) : null),
    progressBar(stats, 'Campaign progress'),
    h('dl', { class: 'counters' }, COUNTERS.map(([key, label]) => h('div', {},
      h('dt', {}, label), h('dd', { 'data-counter': key }, stats[key])))),
    h('p', { class: 'muted' }, `Answered rate ${Math.round(stats.answered_rate * 100)}%, `,
      `${(stats.total_duration_seconds / 60).toFixed(1)} min, cost $${stats.total_cost}`));
}

function uploadSection(id, onUploaded) {
  const message = messageBox();
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
  const bar = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const percent = h('span', { class: 'muted', 'aria-live': 'polite' });
  const report = h('div', { class: 'report' });
  const submit = h('button', { type: 'submit' }, 'Upload');
  const form = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      report.replaceChildren();
      busy(submit, true);
      bar.hidden = false;
      try {
        const result = await upload(`/api/campaigns/${id}/contacts/upload`, file.files[0], (share) => {
          bar.value = Math.round(share * 100);
          percent.textContent = share < 1 ? `Uploading… ${bar.value}%` : 'Checking the numbers…';
        });
        percent.textContent = 'Done.';
        report.append(h('p', { role: 'status' }, `${result.uploaded} contacts added, `,
          `${result.duplicates_skipped} duplicates skipped, ${result.invalid_skipped} invalid`,
          result.opted_out ? `, ${result.opted_out} on the do-not-call list` : '', '.'));
        if (result.invalid_examples.length) {
          report.append(table('Invalid rows', ['Line', 'Value', 'Why'], result.invalid_examples.map(
            (x) => h('tr', {}, h('td', {}, x.line), h('td', {}, x.value), h('td', {}, x.reason)))));
        }
        form.reset();
        onUploaded();
      } catch (err) {
        percent.textContent = '';
        message.error(err);
      } finally { busy(submit, false); }
    },
  }, field('CSV file', file, 'A phone_number column; other columns are kept as attributes.'),
  h('div', { class: 'actions' }, submit, bar, percent), message.el, report);
  return h('section', { 'aria-labelledby': 'upload-h' }, h('h2', { id: 'upload-h' }, 'Upload contacts'), form);
}

// Contacts by the key they pressed, read again (at most every 3 s) as calls settle.
function responsesSection() {
  const body = h('div');
  const section = h('section', { 'aria-labelledby': 'responses-h', hidden: true },
    h('h2', { id: 'responses-h' }, 'Key-press responses'), body);
  section.show = (campaign, stats) => {
    section.hidden = !responseLabels(campaign, stats).length;
    body.replaceChildren(responsesChart(campaign, stats));
  };
  return section;
}

function contactsSection(id) {
  const message = messageBox();
  const status = select('status', [['', 'All'], ...STATUSES.map((s) => [s, s.replace('_', ' ')])], '');
  const response = select('response', [['', 'Any']], '');
  const responseField = field('Response', response);
  responseField.hidden = true;
  const list = h('div');
  const previous = h('button', { type: 'button' }, 'Previous');
  const nextButton = h('button', { type: 'button' }, 'Next');
  const cursors = [null]; // the cursor of each page seen, for Previous
  let at = 0;
  let next = null;

  async function load() {
    const query = new URLSearchParams({ limit: '25' });
    if (status.value) query.set('status', status.value);
    if (response.value) query.set('response', response.value);
    if (cursors[at]) query.set('cursor', cursors[at]);
    try {
      const page = await apiPage(`/api/campaigns/${id}/contacts?${query}`);
      next = page.next;
      previous.disabled = at === 0;
      nextButton.disabled = !next;
      const filtered = response.value ? 'No contacts match these filters.'
        : status.value ? 'No contacts with this status.' : 'No contacts yet: upload a CSV file above.';
      list.replaceChildren(page.items.length ? table('Contacts', ['Number', 'Status', 'Attempts', 'Last result', 'Response', 'Last call'],
        page.items.map((c) => h('tr', {}, h('td', {}, c.phone_number), h('td', {}, badge(c.status)),
          h('td', {}, c.attempts), h('td', {}, c.last_result || '—'),
          h('td', {}, c.response ? `${c.response.label} (key ${c.response.key})` : '—'),
          h('td', {}, when(c.last_attempt_at)))))
        : h('p', { class: 'empty' }, filtered));
    } catch (err) { message.error(err); }
  }
  for (const filter of [status, response]) {
    filter.addEventListener('change', () => { cursors.length = 1; at = 0; load(); });
  }
  previous.addEventListener('click', () => { at -= 1; load(); });
  nextButton.addEventListener('click', () => { cursors[at + 1] = next; at += 1; load(); });
  load();
  const section = h('section', { 'aria-labelledby': 'contacts-h' }, h('h2', { id: 'contacts-h' }, 'Contacts'),
    h('div', { class: 'row' }, field('Show', status), responseField), message.el, list,
    h('div', { class: 'actions pager' }, previous, nextButton));
  section.reload = () => { cursors.length = 1; at = 0; load(); };
  // Called on every progress event: the first page is read again at most every 3 s, so the
  // table follows a running campaign without one request per event.
  let refreshAt = 0;
  let pendingRefresh = null;
  section.changed = () => {
    if (at !== 0 || pendingRefresh) return;
    const wait = Math.max(0, refreshAt - Date.now());
    pendingRefresh = setTimeout(() => { pendingRefresh = null; refreshAt = Date.now() + 3000; load(); }, wait);
  };
  section.stop = () => clearTimeout(pendingRefresh);
  // The campaign's response labels (and any its contacts recorded) become the filter's options.
  section.labels = (labels) => {
    const chosen = response.value;
    response.replaceChildren(...[['', 'Any'], ...labels.map((l) => [l, l])].map(([v, text]) =>
      h('option', { value: v, selected: v === chosen }, text)));
    responseField.hidden = !labels.length;
  };
  return section;
}

export function campaignPage(main, customer, id) {
  const message = messageBox();
  const live = h('div', { 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions' });
  const heading = h('h1', {}, 'Campaign');
  let status = null;

  function showActions() {
    actions.replaceChildren();
    if (status === 'draft' || status === 'paused') {
      actions.append(h('a', { class: 'button', href: `#/campaigns/${id}/edit` }, 'Edit'));
    }
    for (const [action, [label, question, allowed]] of Object.entries(ACTIONS)) {
      if (!allowed.includes(status)) continue;
      const button = h('button', { type: 'button', class: action === 'stop' ? 'danger' : 'primary' }, label);
      button.addEventListener('click', async () => {
        if (!(await confirmAction(question, label))) return;
        message.hide();
        busy(button, true);
        try {
          const answer = await api('POST', `/api/campaigns/${id}/${action}`);
          if (answer.status) { status = answer.status; showActions(); }
          message.ok(action === 'retry-failed' ? `${answer.retried} contacts will be called again.` : `${label}: done.`);
        } catch (err) { message.error(err); } finally { busy(button, false); }
      });
      actions.append(button);
    }
  }

  const contacts = contactsSection(id);
  const uploads = uploadSection(id, () => contacts.reload());
  uploads.hidden = true;
  const phone = phoneSection(id);
  const responses = responsesSection();
  main.append(heading, h('p', { class: 'actions' }, h('a', { href: '#/campaigns' }, '← All campaigns'),
    h('a', { href: `#/campaigns/${id}/results` }, 'Results and charts')),
  live, actions, message.el, uploads, responses, phone, contacts);
  let campaign = null;
  async function readResponses() {
    try {
      const stats = await api('GET', `/api/campaigns/${id}/stats`);
      if (!campaign) campaign = await api('GET', `/api/campaigns/${id}`);
      responses.show(campaign, stats);
      contacts.labels(responseLabels(campaign, stats));
    } catch (err) { message.error(err); }
  }
  readResponses();
  const changed = contacts.changed;
  contacts.changed = () => { changed(); responsesLater(); };
  // Like the contacts table: read again at most every 3 s while progress events arrive.
  let responsesAt = 0;
  let pendingResponses = null;
  function responsesLater() {
    if (pendingResponses) return;
    const wait = Math.max(0, responsesAt - Date.now());
    pendingResponses = setTimeout(() => { pendingResponses = null; responsesAt = Date.now() + 3000; readResponses(); }, wait);
  }
  let seen = 0;
  const close = follow(`/api/campaigns/${id}/events`, (event) => {
    heading.textContent = event.name;
    document.title = `${event.name} · Voxlancer`;
    live.replaceChildren(summary(event));
    if (event.status !== status) {
      status = event.status;
      showActions();
      // Contacts can be added while the campaign is a draft or paused.
      uploads.hidden = !['draft', 'paused'].includes(status);
    }
    if (seen++) contacts.changed(); // the first event is the state the table was read in
  }, () => message.error('This campaign’s live progress could not be loaded; it may have been ' +
    'deleted, or the session has ended. Reload the page to try again.'));
  return () => { close(); contacts.stop(); phone.stop(); clearTimeout(pendingResponses); };
}
