// Caller IDs: the numbers campaigns call from. A number is verified by a call: the platform
// rings it and reads a 6-digit code, which the person types here.
import { api, apiPage } from './api.js';
import { badge, busy, confirmAction, field, h, messageBox, table, when } from './dom.js';

function verifyForm(caller, message, reload) {
  const code = h('input', { name: 'code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autocomplete: 'one-time-code' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Confirm');
  const form = h('form', {
    class: 'card',
    async onsubmit(e) {
      e.preventDefault();
      busy(submit, true);
      try {
        await api('POST', `/api/caller-ids/${caller.id}/confirm`, { code: code.value });
        message.ok(`${caller.phone_number} is verified.`);
        reload();
      } catch (err) { message.error(err); } finally { busy(submit, false); }
    },
  }, h('p', {}, `We are calling ${caller.phone_number}. Answer it and type the 6-digit code you hear (valid for 10 minutes).`),
  field('Code', code), h('div', { class: 'actions' }, submit));
  return form;
}

export function callerIdsPage(main) {
  const message = messageBox();
  const list = h('div');
  const pending = h('div', { 'aria-live': 'polite' });

  async function load() {
    try {
      const page = await apiPage('/api/caller-ids?limit=100');
      list.replaceChildren(page.items.length ? table('Caller IDs', ['Number', 'Status', 'Added', ''],
        page.items.map((caller) => {
          const buttons = h('div', { class: 'actions' });
          if (!caller.verified) {
            const verify = h('button', { type: 'button', 'aria-label': `Verify by call: ${caller.phone_number}` }, 'Verify by call');
            verify.addEventListener('click', async () => {
              message.hide();
              busy(verify, true);
              try {
                await api('POST', `/api/caller-ids/${caller.id}/verify`);
                pending.replaceChildren(verifyForm(caller, message, () => { pending.replaceChildren(); load(); }));
                pending.querySelector('input').focus();
              } catch (err) { message.error(err); } finally { busy(verify, false); }
            });
            buttons.append(verify);
          }
          const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${caller.phone_number}` }, 'Delete');
          remove.addEventListener('click', async () => {
            if (!(await confirmAction(`Delete the caller ID ${caller.phone_number}?`, 'Delete'))) return;
            try { await api('DELETE', `/api/caller-ids/${caller.id}`); message.ok('Caller ID deleted.'); load(); } catch (err) { message.error(err); }
          });
          buttons.append(remove);
          return h('tr', {}, h('th', { scope: 'row' }, caller.phone_number),
            h('td', {}, badge(caller.verified ? 'verified' : 'unverified')), h('td', {}, when(caller.created_at)), h('td', {}, buttons));
        })) : h('p', { class: 'empty' }, 'No caller IDs yet. Add the number your contacts should see; it must be yours, which a verification call proves.'));
    } catch (err) { message.error(err); }
  }

  const add = h('button', { type: 'submit', class: 'primary' }, 'Add');
  const form = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      busy(add, true);
      try {
        const caller = await api('POST', '/api/caller-ids', { phone_number: new FormData(form).get('phone_number') });
        message.ok(`${caller.phone_number} added. Verify it by a call before a campaign uses it.`);
        form.reset();
        load();
      } catch (err) { message.error(err); } finally { busy(add, false); }
    },
  }, field('Phone number', h('input', { name: 'phone_number', type: 'tel', required: true }), 'E.164 (+12025550143) or a national number.'),
  h('div', { class: 'actions' }, add));

  main.append(h('h1', {}, 'Caller IDs'), message.el, pending,
    h('section', { class: 'card', 'aria-labelledby': 'caller-add-h' }, h('h2', { id: 'caller-add-h' }, 'Add a number'), form),
    h('section', { 'aria-labelledby': 'caller-list-h' }, h('h2', { id: 'caller-list-h' }, 'Numbers'), list));
  load();
}
