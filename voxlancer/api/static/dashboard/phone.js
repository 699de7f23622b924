// The browser phone: a WebRTC SIP phone (JsSIP, loaded only when opened) registered to this
// account's own endpoint on Asterisk, and the "Test call" that rings it with the campaign's call.
// The SIP password comes from POST /api/phone/registration and lives in this module's memory.
import { api } from './api.js';
import { busy, field, h, messageBox } from './dom.js';

const JSSIP = '/vendor/jssip-3.13.8.js';
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

// Its styles are its own sheet beside this module (same version path), added once.
document.head.append(h('link', { rel: 'stylesheet', href: new URL('./phone.css', import.meta.url).href }));

let phone = null; // one phone per page load, kept while moving between campaigns
let listener = () => {}; // the shown campaign page's phone section re-renders on changes
const onChange = () => listener();

async function openPhone() {
  const reg = await api('POST', '/api/phone/registration');
  const { default: JsSIP } = await import(JSSIP);
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(reg.ws_url)], uri: reg.sip_uri,
    authorization_user: reg.username, password: reg.password, register: true,
    register_expires: reg.register_expires, session_timers: false, user_agent: 'Voxlancer dashboard',
  });
  const state = { ua, reg, status: 'Connecting…', registered: false, session: null, caller: '' };
  ua.on('registered', () => { state.registered = true; state.status = 'Ready: waiting for a test call.'; onChange(); });
  ua.on('unregistered', () => { state.registered = false; state.status = 'Not registered.'; onChange(); });
  ua.on('registrationFailed', (e) => { state.registered = false; state.status = `Registration failed: ${e.cause}.`; onChange(); });
  ua.on('newRTCSession', ({ session, originator, request }) => {
    if (originator !== 'remote' || state.session) { if (originator === 'remote') session.terminate({ status_code: 486 }); return; }
    state.session = session;
    state.caller = (request.from.display_name || request.from.uri.user || '').trim();
    state.status = `Incoming call for ${state.caller}`;
    const done = (e) => { state.session = null; state.status = `Call ended${e && e.cause ? ` (${e.cause})` : ''}. Ready.`; onChange(); };
    session.on('ended', done);
    session.on('failed', done);
    session.on('confirmed', () => { state.status = `In call for ${state.caller}`; onChange(); });
    onChange();
  });
  ua.start();
  return state;
}

// The level of the audio arriving from Asterisk, from the receiver's statistics (what the
// browser decoded, not what it was sent), shown on a meter while a call is up.
async function inboundLevel(session) {
  const pc = session && session.connection;
  if (!pc) return null;
  const stats = await pc.getStats();
  let got = null;
  let secured = '';
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') got = { level: s.audioLevel || 0, energy: s.totalAudioEnergy || 0 };
    // How the media is protected: DTLS state and the SRTP cipher it agreed (shown to testers).
    if (s.type === 'transport' && s.dtlsState) secured = `${s.dtlsState} ${s.srtpCipher || ''}`.trim();
  }
  return got && { ...got, secured };
}

export function phoneSection(campaignId) {
  const message = messageBox();
  const status = h('p', { class: 'phone-status', 'aria-live': 'polite' }, 'The phone is closed.');
  const openButton = h('button', { type: 'button' }, 'Open phone');
  const number = h('input', { type: 'tel', name: 'test_number', autocomplete: 'off', placeholder: '+12025550143' });
  const testButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Test call');
  const answer = h('button', { type: 'button', class: 'primary', disabled: true }, 'Answer');
  const hangup = h('button', { type: 'button', class: 'danger', disabled: true }, 'Hang up');
  const meter = h('meter', { min: 0, max: 1, value: 0, 'aria-label': 'Incoming audio level', 'data-energy': '0' });
  const audio = h('audio', { autoplay: true });
  const media = h('p', { class: 'muted phone-media' });
  const keypad = h('div', { class: 'keypad', role: 'group', 'aria-label': 'Keypad' },
    KEYS.map((key) => h('button', {
      type: 'button', 'aria-label': `Key ${key}`, disabled: true,
      onclick() { if (phone && phone.session) phone.session.sendDTMF(key, { transportType: 'RFC2833' }); },
    }, key)));
  let timer = null;

  function render() {
    const s = phone;
    status.textContent = s ? s.status : 'The phone is closed.';
    openButton.hidden = Boolean(s);
    testButton.disabled = !(s && s.registered) || Boolean(s && s.session);
    const ringing = Boolean(s && s.session && !s.session.isEstablished());
    const up = Boolean(s && s.session && s.session.isEstablished());
    answer.disabled = !ringing;
    hangup.disabled = !(ringing || up);
    for (const key of keypad.querySelectorAll('button')) key.disabled = !up;
    if (up && !timer) {
      timer = setInterval(async () => {
        const got = await inboundLevel(phone && phone.session);
        if (got) {
          meter.value = got.level;
          meter.dataset.energy = String(got.energy);
          media.textContent = got.secured ? `Media: DTLS ${got.secured}` : '';
        }
      }, 250);
    } else if (!up && timer) { clearInterval(timer); timer = null; meter.value = 0; }
  }

  openButton.addEventListener('click', async () => {
    message.hide();
    busy(openButton, true);
    try { phone = await openPhone(); render(); } catch (err) { message.error(err); } finally { busy(openButton, false); }
  });
  answer.addEventListener('click', () => {
    const { session, reg } = phone;
    session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: reg.ice_servers } });
    session.connection.addEventListener('track', (e) => { audio.srcObject = e.streams[0]; });
    render();
  });
  hangup.addEventListener('click', () => { if (phone && phone.session) phone.session.terminate(); });
  const form = h('form', {
    async onsubmit(e) {
      e.preventDefault();
      message.hide();
      busy(testButton, true);
      try {
        await api('POST', `/api/campaigns/${campaignId}/test-call`, { phone_number: number.value });
        message.ok('Calling your browser phone…');
      } catch (err) { message.error(err); } finally { busy(testButton, false); render(); }
    },
  }, field('Test number', number, 'The number this call stands for: pressing the opt-out key puts it on your do-not-call list. Response keys work as on a live call, but nothing is recorded and no transfer is placed. Test calls are free.'),
  h('div', { class: 'actions' }, testButton));
  listener = render;
  render();
  const section = h('section', { class: 'phone', 'aria-labelledby': 'phone-h' },
    h('h2', { id: 'phone-h' }, 'Test call'),
    h('p', { class: 'muted' }, 'Hear this campaign’s call exactly as a contact would, on this browser.'),
    status, h('div', { class: 'actions' }, openButton), form, message.el,
    h('div', { class: 'actions' }, answer, hangup), meter, media, keypad, audio);
  section.stop = () => { clearInterval(timer); timer = null; };
  return section;
}
