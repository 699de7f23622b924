// Adding credit with a card: Stripe's Payment Element when the operator has configured Stripe,
// otherwise a note saying who adds credit. The card never touches this server: Stripe.js turns
// it into a PaymentMethod (pm_...), which POST /api/billing/add-credit charges.
//
// Stripe.js must come from https://js.stripe.com (Stripe forbids serving a copy), so it is the
// one script from another origin; it is loaded only on this page and only when payments are on,
// and only then does the page's Content-Security-Policy allow Stripe's origins.
import { api } from './api.js';
import { busy, field, h, messageBox } from './dom.js';
import { dollars, units } from './money.js';

const STRIPE_JS = 'https://js.stripe.com/v3';
let loading = null;

function loadStripe() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const failed = () => {
        loading = null;
        reject(new Error('The card form could not be loaded from Stripe. Check the connection and reload the page.'));
      };
      const script = h('script', { src: STRIPE_JS });
      script.addEventListener('load', () => (window.Stripe ? resolve(window.Stripe) : failed()));
      script.addEventListener('error', failed);
      document.head.append(script);
    });
  }
  return loading;
}

function noCards() {
  return h('p', {}, 'Card payments are not set up on this server, so credit cannot be added here. ',
    'The operator adds credit to your account (for example after a bank transfer): ask them, and it ',
    'shows in the balance and the transactions below as soon as it is added.');
}

async function cardForm(section, config, onCredited) {
  const message = messageBox();
  const amount = h('input', { type: 'number', name: 'amount', min: config.minimum, max: config.maximum,
    step: '0.01', value: '20.00', required: true, inputmode: 'decimal' });
  const mount = h('div', { class: 'card-element' }, h('p', { class: 'muted' }, 'Loading the card form…'));
  const submit = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Add credit');
  const form = h('form', {},
    field('Amount in dollars', amount, `From ${dollars(config.minimum)} to ${dollars(config.maximum)}.`),
    h('fieldset', {}, h('legend', {}, 'Card'), mount),
    h('div', { class: 'actions' }, submit), message.el);
  section.append(h('p', { class: 'muted' }, 'Your card details go straight to Stripe, our payment processor.'), form);
  let stripe;
  try {
    stripe = (await loadStripe())(config.publishable_key);
  } catch (err) { mount.replaceChildren(); message.error(err); return; }
  // Stripe's amounts are whole cents; the form's amount is checked before it is sent.
  const cents = () => Math.round(units(amount.value || '0') / 100);
  const elements = stripe.elements({ mode: 'payment', currency: config.currency,
    amount: Math.max(cents(), 100), paymentMethodCreation: 'manual', paymentMethodTypes: ['card'] });
  mount.replaceChildren();
  elements.create('payment', { wallets: { applePay: 'never', googlePay: 'never' } }).mount(mount);
  submit.disabled = false;
  amount.addEventListener('change', () => {
    if (amount.checkValidity()) elements.update({ amount: cents() });
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    message.hide();
    busy(submit, true);
    try {
      const checked = await elements.submit();
      if (checked.error) throw new Error(checked.error.message);
      const { error, paymentMethod } = await stripe.createPaymentMethod({ elements });
      if (error) throw new Error(error.message);
      const answer = await api('POST', '/api/billing/add-credit',
        { amount: amount.value, stripe_token: paymentMethod.id });
      if (answer.status === 'processing') {
        message.ok('The payment is processing; the credit is added when Stripe confirms it.');
      } else {
        message.ok(`${dollars(answer.amount)} added to your balance.`);
      }
      onCredited();
    } catch (err) { message.error(err); } finally { busy(submit, false); }
  });
}

export function creditSection(onCredited) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'credit-h' },
    h('h2', { id: 'credit-h' }, 'Add credit'));
  api('GET', '/api/billing/card-payments').then((config) => {
    if (config.enabled) cardForm(section, config, onCredited);
    else section.append(noCards());
  }, (err) => {
    const message = messageBox();
    section.append(message.el);
    message.error(err);
  });
  return section;
}
