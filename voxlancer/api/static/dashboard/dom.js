// Small helpers that build the DOM from data. Text always goes in as text nodes, never as HTML,
// so nothing a customer typed (a campaign name, a CSV value) can become markup.

let ids = 0;

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'value') el.value = value;
    else if (name === 'checked') el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled form control, with an optional hint tied to it by aria-describedby.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    const before = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', before ? `${before} ${hintId}` : hintId);
    parts.push(h('p', { class: 'hint', id: hintId }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function select(name, options, value) {
  return h('select', { name }, options.map(([v, text]) =>
    h('option', { value: v, selected: v === value }, text)));
}

// A live region for a form's outcome: errors are announced (role=alert), successes politely.
export function messageBox() {
  const box = h('div', { class: 'message', hidden: true });
  return {
    el: box,
    error(err) {
      box.hidden = false;
      box.className = 'message error';
      box.setAttribute('role', 'alert');
      box.textContent = err && err.message ? err.message : String(err);
    },
    ok(text) {
      box.hidden = false;
      box.className = 'message ok';
      box.setAttribute('role', 'status');
      box.textContent = text;
    },
    hide() { box.hidden = true; },
  };
}

// A modal confirmation (native <dialog>: focus moves in, Escape cancels, focus returns).
export function confirmAction(question, action) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': uid('q') });
    const title = h('p', { id: dialog.getAttribute('aria-labelledby') }, question);
    const yes = h('button', { type: 'submit', value: 'yes', class: 'primary' }, action);
    const no = h('button', { type: 'submit', value: 'no', autofocus: true }, 'Cancel');
    append(dialog, [h('form', { method: 'dialog' }, title, h('div', { class: 'actions' }, no, yes))]);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function busy(button, running) {
  button.disabled = running;
  button.setAttribute('aria-busy', running ? 'true' : 'false');
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function badge(status) {
  return h('span', { class: `badge s-${status}` }, status.replace('_', ' '));
}

// A table that scrolls sideways on a narrow screen instead of widening the page.
export function table(caption, headings, rows) {
  // Focusable, so that keyboard users can scroll it; named "<caption> table".
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `${caption} table` },
    h('table', {}, h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}
