// Sign in and sign up. A new account starts in review; the page says what that means.
import { api } from './api.js';
import { field, h, messageBox, busy } from './dom.js';

function form(title, fields, submitLabel, onSubmit) {
  const message = messageBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const el = h('form', {
    class: 'card narrow',
    'aria-labelledby': `${title.replace(/\W/g, '')}-h`,
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      busy(submit, true);
      try { await onSubmit(new FormData(el), message); } catch (err) { message.error(err); }
      finally { busy(submit, false); }
    },
  }, h('h2', { id: `${title.replace(/\W/g, '')}-h` }, title), fields, message.el,
  h('div', { class: 'actions' }, submit));
  return el;
}

const email = () => h('input', { name: 'email', type: 'email', required: true, autocomplete: 'username' });

export function signInPage(main, start) {
  const signIn = form('Sign in', [
    field('Email', email()),
    field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
  ], 'Sign in', async (data) => {
    start(await api('POST', '/api/auth/session',
      { email: data.get('email'), password: data.get('password') }));
  });
  const signUp = form('Create an account', [
    field('Email', email()),
    field('Password', h('input', { name: 'password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' }), 'At least 10 characters.'),
    field('Company name', h('input', { name: 'company_name', autocomplete: 'organization' }), 'Said at the start of every call: “This is a message from …”.'),
  ], 'Create account', async (data, message) => {
    await api('POST', '/api/auth/register', {
      email: data.get('email'), password: data.get('password'),
      company_name: data.get('company_name') || '' });
    message.ok('Account created. It is now pending review: the operator checks every new ' +
      'account before it may place calls. You can sign in now and set up campaigns; ' +
      'starting one works once the account is approved.');
  });
  main.append(h('h1', {}, 'Voxlancer'),
    h('p', { class: 'lead' }, 'Voice campaigns: reminders and notices, spoken to your contacts.'),
    h('div', { class: 'two' }, signIn, signUp));
}
