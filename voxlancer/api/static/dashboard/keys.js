// API keys: create one (shown once, with a copy button), list and revoke them.
import { api } from './api.js';
import { busy, confirmAction, field, h, messageBox, table, when } from './dom.js';

const SCOPES = ['campaigns:read', 'campaigns:write', 'contacts:read', 'contacts:write',
  'caller_ids:read', 'caller_ids:write', 'billing:read', 'billing:write', 'tts:use',
  'api_keys:write', 'webhooks:read', 'webhooks:write'];

export function keysPage(main) {
  const message = messageBox();
  const list = h('div');
  const created = h('div', { 'aria-live': 'polite' });

  async function load() {
    try {
      const keys = await api('GET', '/api/api-keys');
      list.replaceChildren(keys.length ? table('API keys', ['Name', 'Key', 'Scopes', 'Created', 'Last used', ''],
        keys.map((k) => {
          const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${k.name}` }, 'Revoke');
          revoke.addEventListener('click', async () => {
            if (!(await confirmAction(`Revoke the key “${k.name}”? Programs using it stop working at once.`, 'Revoke'))) return;
            try { await api('DELETE', `/api/api-keys/${k.id}`); message.ok('Key revoked.'); load(); } catch (err) { message.error(err); }
          });
          return h('tr', {}, h('th', { scope: 'row' }, k.name), h('td', {}, h('code', {}, `${k.key_prefix}…`)),
            h('td', {}, k.permissions.join(', ')), h('td', {}, when(k.created_at)), h('td', {}, when(k.last_used_at)), h('td', {}, revoke));
        })) : h('p', { class: 'empty' }, 'No API keys yet. Programs use a key to call the API; the dashboard needs none.'));
    } catch (err) { message.error(err); }
  }

  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create key');
  const form = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      const data = new FormData(form);
      busy(submit, true);
      try {
        const key = await api('POST', '/api/api-keys', { name: data.get('name'), permissions: data.getAll('permissions') });
        const shown = h('input', { type: 'text', readonly: true, value: key.key, id: 'new-key', class: 'secret' });
        const copy = h('button', { type: 'button' }, 'Copy');
        copy.addEventListener('click', async () => {
          shown.select();
          try { await navigator.clipboard.writeText(key.key); copy.textContent = 'Copied'; } catch { document.execCommand('copy'); copy.textContent = 'Copied'; }
        });
        created.replaceChildren(h('div', { class: 'card created' },
          h('p', {}, h('strong', {}, 'Copy this key now: it is shown only this once.')),
          field(`Key “${key.name}”`, shown), h('div', { class: 'actions' }, copy)));
        form.reset();
        load();
      } catch (err) { message.error(err); } finally { busy(submit, false); }
    },
  }, field('Name', h('input', { name: 'name', required: true, maxlength: 100 }), 'For you to tell keys apart, e.g. “CRM sync”.'),
  h('fieldset', { class: 'scopes' }, h('legend', {}, 'What the key may do'),
    SCOPES.map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'permissions', value: s, checked: s.endsWith(':read') }), ` ${s}`))),
  message.el, h('div', { class: 'actions' }, submit));

  main.append(h('h1', {}, 'API keys'), created,
    h('section', { class: 'card', 'aria-labelledby': 'new-key-h' }, h('h2', { id: 'new-key-h' }, 'New key'), form),
    h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Your keys'), list));
  load();
}
