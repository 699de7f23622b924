// The campaigns list, kept live by the account's event stream (no polling).
import { apiPage } from './api.js';
import { badge, h, messageBox, table } from './dom.js';

// Contacts no longer waiting for a call, of all contacts.
export function done(stats) {
  return stats.total_contacts - stats.pending - stats.queued;
}

export function progressBar(stats, label) {
  const total = stats.total_contacts;
  const finished = done(stats);
  return h('div', { class: 'progress' },
    h('progress', { max: total || 1, value: finished, 'aria-label': label }),
    h('span', { class: 'muted' }, `${finished} of ${total} done`));
}

// Live progress events from a stream URL; returns the function that closes it.
// EventSource reconnects by itself when the server ends a stream; it gives up only when the
// server refuses it (a deleted campaign, a signed-out session): then `onRefused`.
export function follow(url, onProgress, onRefused) {
  const source = new EventSource(url);
  source.addEventListener('progress', (e) => onProgress(JSON.parse(e.data)));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED && onRefused) onRefused();
  });
  return () => source.close();
}

function row(campaign, stats) {
  const cells = {
    status: h('td', {}, badge(campaign.status)),
    progress: h('td', {}, stats ? progressBar(stats, `${campaign.name} progress`) : h('span', { class: 'muted' }, `${campaign.total_contacts} contacts`)),
  };
  const tr = h('tr', { 'data-id': campaign.id },
    h('th', { scope: 'row' }, h('a', { href: `#/campaigns/${campaign.id}` }, campaign.name)),
    cells.status, cells.progress);
  tr.update = (event) => {
    cells.status.replaceChildren(badge(event.status));
    cells.progress.replaceChildren(progressBar(event.stats, `${event.name} progress`));
  };
  return tr;
}

export function campaignsPage(main) {
  const message = messageBox();
  const rows = new Map();
  const latest = new Map(); // events that may arrive before the list does
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Show more');
  let next = null;
  const list = h('div');
  main.append(h('div', { class: 'heading' }, h('h1', {}, 'Campaigns'),
    h('a', { class: 'button primary', href: '#/campaigns/new' }, 'New campaign')),
  message.el, list, more);

  async function load() {
    try {
      const page = await apiPage(`/api/campaigns?limit=50${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
      next = page.next;
      more.hidden = !next;
      if (!rows.size && !page.items.length) {
        list.replaceChildren(h('div', { class: 'empty' },
          h('p', {}, 'No campaigns yet.'),
          h('p', {}, 'A campaign is a message, a voice and a list of numbers to call. ',
            h('a', { href: '#/campaigns/new' }, 'Create your first campaign'), '.')));
        return;
      }
      if (!list.querySelector('table')) {
        const t = table('Campaigns', ['Name', 'Status', 'Progress'], []);
        t.querySelector('tbody').replaceWith(body);
        list.replaceChildren(t);
      }
      for (const campaign of page.items) {
        const tr = row(campaign, null);
        if (latest.has(campaign.id)) tr.update(latest.get(campaign.id));
        rows.set(campaign.id, tr);
        body.append(tr);
      }
    } catch (err) { message.error(err); }
  }
  more.addEventListener('click', load);
  load();
  return follow('/api/events/stream', (event) => {
    latest.set(event.campaign_id, event);
    const tr = rows.get(event.campaign_id);
    if (tr) tr.update(event);
  });
}
