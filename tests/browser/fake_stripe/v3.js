// A stand-in for https://js.stripe.com/v3 in the browser tests, served by Playwright in place of
// Stripe's (Stripe's servers are the outside world). It does what the billing page asks of
// Stripe.js, the way Stripe.js does it: the card fields are a frame of js.stripe.com, whose
// values reach this script by postMessage only, and the card is sent to
// api.stripe.com/v1/payment_methods with the publishable key in the form (a simple CORS
// request), which the test routes to tests/stripe_stub.py.
(() => {
  const ORIGIN = 'https://js.stripe.com';
  const FRAME = `${ORIGIN}/v3/payment-element.html`;

  window.Stripe = (publishableKey) => {
    let card = {};
    window.addEventListener('message', (event) => {
      if (event.origin === ORIGIN && event.data && event.data.fakeStripeCard) card = event.data.fakeStripeCard;
    });
    return {
      elements(options) {
        if (options.mode !== 'payment' || options.paymentMethodCreation !== 'manual') {
          throw new Error('fake Stripe.js: only deferred payment elements with manual creation');
        }
        const elements = {
          options,
          create(type) {
            if (type !== 'payment') throw new Error(`fake Stripe.js: no ${type} element`);
            return {
              mount(container) {
                const frame = document.createElement('iframe');
                frame.src = FRAME;
                frame.title = 'Secure payment input frame';
                // Stripe.js sizes its frames itself, through the CSSOM (no inline style).
                Object.assign(frame.style, { width: '100%', height: '14rem', border: '0' });
                container.append(frame);
              },
            };
          },
          update(changes) { Object.assign(options, changes); },
          async submit() {
            if (!Number.isInteger(options.amount) || options.amount < 50) {
              return { error: { type: 'validation_error', message: 'The amount is not valid.' } };
            }
            if (!card.number || !card.expiry || !card.cvc) {
              return { error: { type: 'validation_error', message: 'Your card details are incomplete.' } };
            }
            return {};
          },
        };
        return elements;
      },
      async createPaymentMethod({ elements }) {
        if (!elements) throw new Error('fake Stripe.js: createPaymentMethod needs elements');
        const [month, year] = card.expiry.split('/').map((s) => s.trim());
        const body = new URLSearchParams({
          type: 'card', 'card[number]': card.number, 'card[exp_month]': month,
          'card[exp_year]': year, 'card[cvc]': card.cvc, key: publishableKey,
        });
        const resp = await fetch('https://api.stripe.com/v1/payment_methods', { method: 'POST', body });
        const answer = await resp.json();
        return resp.ok ? { paymentMethod: answer } : { error: answer.error };
      },
    };
  };
})();
