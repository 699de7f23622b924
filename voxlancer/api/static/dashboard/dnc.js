// The do-not-call list: add a number, import a CSV, remove a number.
import { api, apiPage, upload } from './api.js';
import { busy, confirmAction, field, h, messageBox, table, when } from './dom.js';

export function dncPage(main) {
  const message = messageBox();
  const list = h('div');
  const pager = h('div', { class: 'actions pager' });
  const cursors = [null];
  let at = 0;

  async function load() {
    try {
      const page = await apiPage(`/api/dnc?limit=25${cursors[at] ? `&cursor=${encodeURIComponent(cursors[at])}` : ''}`);
      list.replaceChildren(page.items.length ? table('Do-not-call numbers', ['Number', 'Source', 'Added', ''],
        page.items.map((entry) => {
          const remove = h('button', { type: 'button', 'aria-label': `Remove ${entry.phone_number}` }, 'Remove');
          remove.addEventListener('click', async () => {
            if (!(await confirmAction(`Take ${entry.phone_number} off the do-not-call list? Campaigns may call it again.`, 'Remove'))) return;
            try {
              await api('DELETE', `/api/dnc/${encodeURIComponent(entry.phone_number)}`);
              message.ok(`${entry.phone_number} removed.`);
              load();
            } catch (err) { message.error(err); }
          });
          return h('tr', {}, h('th', { scope: 'row' }, entry.phone_number), h('td', {}, entry.source.replace('_', ' ')),
            h('td', {}, when(entry.created_at)), h('td', {}, remove));
        })) : h('p', { class: 'empty' }, 'The list is empty. Numbers whose owners pressed the opt-out key appear here by themselves.'));
      const previous = h('button', { type: 'button', disabled: at === 0, onclick() { at -= 1; load(); } }, 'Previous');
      const next = h('button', { type: 'button', disabled: !page.next, onclick() { cursors[at + 1] = page.next; at += 1; load(); } }, 'Next');
      pager.replaceChildren(previous, next);
    } catch (err) { message.error(err); }
  }

  const add = h('button', { type: 'submit', class: 'primary' }, 'Add');
  const addForm = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      busy(add, true);
      try {
        const entry = await api('POST', '/api/dnc', { phone_number: new FormData(addForm).get('phone_number') });
        message.ok(`${entry.phone_number} is on the do-not-call list.`);
        addForm.reset();
        cursors.length = 1; at = 0; load();
      } catch (err) { message.error(err); } finally { busy(add, false); }
    },
  }, field('Phone number', h('input', { name: 'phone_number', type: 'tel', required: true, autocomplete: 'off' }), 'E.164 (+12025550143) or a national number.'),
  h('div', { class: 'actions' }, add));

  const file = h('input', { type: 'file', accept: '.csv,text/csv', required: true });
  const bar = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Import progress' });
  const importButton = h('button', { type: 'submit' }, 'Import');
  const importForm = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      busy(importButton, true);
      bar.hidden = false;
      try {
        const r = await upload('/api/dnc', file.files[0], (share) => { bar.value = Math.round(share * 100); });
        message.ok(`${r.added} numbers added, ${r.duplicates_skipped} already listed, ${r.invalid_skipped} invalid; ` +
          `${r.contacts_opted_out} waiting contacts will not be called.`);
        importForm.reset();
        cursors.length = 1; at = 0; load();
      } catch (err) { message.error(err); } finally { busy(importButton, false); }
    },
  }, field('CSV file', file, 'A phone_number column.'), h('div', { class: 'actions' }, importButton, bar));

  main.append(h('h1', {}, 'Do-not-call list'),
    h('p', { class: 'muted' }, 'Numbers here are never called by any of your campaigns.'), message.el,
    h('div', { class: 'two' },
      h('section', { class: 'card', 'aria-labelledby': 'dnc-add-h' }, h('h2', { id: 'dnc-add-h' }, 'Add a number'), addForm),
      h('section', { class: 'card', 'aria-labelledby': 'dnc-import-h' }, h('h2', { id: 'dnc-import-h' }, 'Import a file'), importForm)),
    h('section', { 'aria-labelledby': 'dnc-list-h' }, h('h2', { id: 'dnc-list-h' }, 'Numbers'), list, pager));
  load();
}
