// Create or edit a campaign: the message with what is said before it, a voice preview, and
// when and how calls are placed. Choices with a fixed list (time zones, keys, modes) are read
// from the API's own OpenAPI document, so the form offers what the server accepts.
import { api, apiBlob, apiPage } from './api.js';
import { busy, field, h, messageBox, select } from './dom.js';

let schemaCache = null;

async function campaignSchema() {
  if (!schemaCache) {
    const doc = await api('GET', '/api/openapi.json');
    schemaCache = doc.paths['/api/campaigns'].post.requestBody.content['application/json'].schema.properties;
  }
  return schemaCache;
}

// What the dialer says before the message (voxlancer/dialer/compliance.py spoken_message).
function spokenIntro(company, key) {
  const spelled = { '*': 'star', '#': 'pound' }[key] || key;
  return `This is a message from ${company.trim() || 'an automated calling service'}. ` +
    `To stop receiving these calls, press ${spelled}.`;
}

const local = (iso) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

export function campaignForm(main, customer, id) {
  const message = messageBox();
  const heading = h('h1', {}, id ? 'Edit campaign' : 'New campaign');
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.append(heading, h('p', {}, h('a', { href: id ? `#/campaigns/${id}` : '#/campaigns' }, '← Back')), message.el, body);

  (async () => {
    const [props, voices, callers, campaign] = await Promise.all([
      campaignSchema(), api('GET', '/api/tts/voices'), apiPage('/api/caller-ids?limit=100'),
      id ? api('GET', `/api/campaigns/${id}`) : Promise.resolve({}),
    ]);
    const c = {
      tts_voice: 'en-US', opt_out_key: '9', machine_detection: 'off', calling_hours_start: '09:00',
      calling_hours_end: '20:00', timezone: 'America/New_York', max_concurrent: 5, max_attempts: 3,
      retry_delay_minutes: 60, purpose: 'informational', ...campaign };
    const choices = (name) => ((props[name] && props[name].enum) || []).map((v) => [v, v]);
    const input = (name, attrs = {}) => h('input', { name, value: c[name] ?? '', ...attrs });

    const optOut = select('opt_out_key', choices('opt_out_key'), c.opt_out_key);
    const intro = h('p', { class: 'intro', id: 'intro' });
    const showIntro = () => { intro.textContent = spokenIntro(customer.company_name, optOut.value); };
    optOut.addEventListener('change', showIntro);
    showIntro();
    const text = h('textarea', { name: 'tts_message', required: true, rows: 4, 'aria-describedby': 'intro' }, c.tts_message || '');
    const voice = select('tts_voice', voices.voices.map((v) => [v, v]), c.tts_voice);
    const audio = h('audio', { controls: true, hidden: true, 'aria-label': 'Preview' });
    const play = h('button', { type: 'button' }, '▶ Play preview');
    play.addEventListener('click', async () => {
      message.hide();
      busy(play, true);
      try {
        const wav = await apiBlob('POST', '/api/tts/preview',
          { text: `${intro.textContent} ${text.value}`, voice: voice.value });
        if (audio.src) URL.revokeObjectURL(audio.src);
        audio.src = URL.createObjectURL(wav);
        audio.hidden = false;
        await audio.play().catch(() => {}); // autoplay rules may refuse; the controls remain
      } catch (err) { message.error(err); } finally { busy(play, false); }
    });
    const machine = select('machine_detection', [['off', 'Off: play the message to whoever answers'],
      ['hangup', 'Hang up on answering machines'], ['voicemail', 'Leave a voicemail on machines']], c.machine_detection);
    const voicemail = h('div', { hidden: machine.value !== 'voicemail' },
      field('Voicemail message', h('textarea', { name: 'voicemail_message', rows: 3 }, c.voicemail_message || '')),
      field('Callback number', input('callback_number', { type: 'tel' }), 'Said at the end of the voicemail, e.g. +12025550143.'));
    machine.addEventListener('change', () => { voicemail.hidden = machine.value !== 'voicemail'; });
    const verified = callers.items.filter((x) => x.verified);

    const submit = h('button', { type: 'submit', class: 'primary' }, id ? 'Save changes' : 'Create campaign');
    const form = h('form', {
      async onsubmit(e) {
        e.preventDefault();
        message.hide();
        const data = new FormData(form);
        const number = (name) => Number(data.get(name));
        const when = (name) => (data.get(name) ? new Date(data.get(name)).toISOString() : null);
        const values = {
          name: data.get('name'), tts_message: data.get('tts_message'), tts_voice: data.get('tts_voice'),
          opt_out_key: data.get('opt_out_key'), calling_hours_start: data.get('calling_hours_start'),
          calling_hours_end: data.get('calling_hours_end'), timezone: data.get('timezone'),
          schedule_start: when('schedule_start'), schedule_end: when('schedule_end'),
          max_concurrent: number('max_concurrent'), max_attempts: number('max_attempts'),
          retry_delay_minutes: number('retry_delay_minutes'),
          machine_detection: data.get('machine_detection'), purpose: data.get('purpose'),
          caller_id: data.get('caller_id') || null, tcpa_consent: data.get('tcpa_consent') === 'on',
        };
        if (values.machine_detection === 'voicemail') {
          values.voicemail_message = data.get('voicemail_message') || null;
          values.callback_number = data.get('callback_number') || null;
        }
        busy(submit, true);
        try {
          const saved = await api(id ? 'PUT' : 'POST', id ? `/api/campaigns/${id}` : '/api/campaigns', values);
          location.hash = `#/campaigns/${saved.id}`;
        } catch (err) { message.error(err); } finally { busy(submit, false); }
      },
    },
    h('fieldset', {}, h('legend', {}, 'Message'),
      field('Campaign name', input('name', { required: true, maxlength: 200 })),
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'Said first on every call'), intro),
      field('Message', text, 'Spoken after the sentence above.'),
      field('Voice', voice), h('div', { class: 'actions' }, play, audio),
      field('Opt-out key', optOut, 'Pressing it puts the number on your do-not-call list.')),
    h('fieldset', {}, h('legend', {}, 'When to call'),
      h('div', { class: 'row' },
        field('Calling hours from', input('calling_hours_start', { type: 'time', required: true })),
        field('to', input('calling_hours_end', { type: 'time', required: true }))),
      field('Time zone', select('timezone', choices('timezone'), c.timezone), 'Of the calling hours; each number’s own local rules apply too.'),
      h('div', { class: 'row' },
        field('Start no earlier than', input('schedule_start', { type: 'datetime-local', value: local(c.schedule_start) })),
        field('Stop after', input('schedule_end', { type: 'datetime-local', value: local(c.schedule_end) })))),
    h('fieldset', {}, h('legend', {}, 'How to call'),
      h('div', { class: 'row' },
        field('Calls at once', input('max_concurrent', { type: 'number', min: 1, required: true })),
        field('Attempts per number', input('max_attempts', { type: 'number', min: 1, required: true })),
        field('Minutes between attempts', input('retry_delay_minutes', { type: 'number', min: 1, required: true }))),
      field('Answering machines', machine), voicemail,
      field('Caller ID', select('caller_id', [['', verified.length ? 'Choose a verified number' : 'No verified caller ID yet'],
        ...verified.map((x) => [x.id, x.phone_number])], c.caller_id || ''), 'A campaign needs a verified caller ID to start.'),
      field('Purpose', select('purpose', choices('purpose'), c.purpose)),
      h('div', { class: 'field check' }, h('input', { type: 'checkbox', name: 'tcpa_consent', id: 'consent', checked: c.tcpa_consent }),
        h('label', { for: 'consent' }, 'I have the consent of the people on this list to call them.'))),
    h('div', { class: 'actions' }, submit));
    body.replaceChildren(form);
  })().catch((err) => { body.replaceChildren(); message.error(err); });
}
