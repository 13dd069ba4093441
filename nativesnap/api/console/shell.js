// The shell every console page shares (docs/console.md): faults, notices, the
// confirmation dialog, polling with back-off, and the small views of a server
// that more than one page shows.

import { ApiError, session } from './api.js';
import { clear, el, linkified } from './dom.js';

const faultBox = document.getElementById('fault');
const noticeBox = document.getElementById('notice');

export const ui = {
  config: null,
  servers: new Map(), // every server the user has listed, by id (for links)
  allProjects: null, // the server list's "all projects" switch
  timer: null,
  generation: 0, // bumped on navigation: late answers of a left page are dropped
  route: null, // the router (app.js)
};

// ---- messages ---------------------------------------------------------------

export function showFault(err, extra) {
  const message = err instanceof Error ? err.message : String(err);
  clear(faultBox).append(
    el('strong', {}, err instanceof ApiError && err.status ? `Refused (${err.status}): ` : 'Error: '),
    ...linkified(message, ui.servers), extra || '',
    el('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: hideFault }, '×'));
  faultBox.hidden = false;
}

export function hideFault() {
  faultBox.hidden = true;
  clear(faultBox);
}

export function notice(...parts) {
  clear(noticeBox).append(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(p))));
  noticeBox.hidden = false;
}

export function hideNotice() {
  noticeBox.hidden = true;
  clear(noticeBox);
}

// ---- the confirmation dialog ---------------------------------------------------

const dialog = document.getElementById('dialog');

// Resolves to the collected values when confirmed, null when cancelled.
export function ask({ title, body, confirm, danger, collect }) {
  clear(document.getElementById('dialog-title')).append(title);
  clear(document.getElementById('dialog-body')).append(...body);
  const ok = document.getElementById('dialog-confirm');
  ok.textContent = confirm;
  ok.className = danger ? 'danger' : 'primary';
  return new Promise((resolve) => {
    const form = document.getElementById('dialog-form');
    const cancel = document.getElementById('dialog-cancel');
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      done(collect ? collect() : {});
    };
    const onCancel = (event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    const first = dialog.querySelector('#dialog-body input');
    (first || ok).focus();
  });
}

// ---- polling with back-off ------------------------------------------------------

const FIRST_DELAY = 250;
const LONGEST_DELAY = 5000;

// Call refresh() again while busy() says so: after 250 ms, then 1.6 times
// longer each time up to 5 s; a user's action starts again from 250 ms.
export function poll(refresh, busy) {
  const generation = ui.generation;
  let delay = FIRST_DELAY;
  const tick = async () => {
    ui.timer = null;
    if (generation !== ui.generation) return;
    try {
      await refresh();
    } catch (err) {
      if (generation === ui.generation) failed(err);
      return;
    }
    if (generation === ui.generation && busy()) {
      delay = Math.min(delay * 1.6, LONGEST_DELAY);
      ui.timer = setTimeout(tick, delay);
    }
  };
  return {
    kick() {
      clearTimeout(ui.timer);
      delay = FIRST_DELAY;
      if (busy()) ui.timer = setTimeout(tick, delay);
    },
  };
}

export function failed(err) {
  if (err instanceof ApiError && err.status === 401) {
    session.end();
    ui.route().then(() => showFault('The token was refused or has expired: sign in again.'));
    return;
  }
  showFault(err);
}

export function rendered(view) {
  const main = document.getElementById('main');
  document.body.dataset.view = view;
  main.dataset.ready = 'true';
  performance.mark(`nativesnap:${view}-rendered`);
}

// ---- views of a server ----------------------------------------------------------

const CAPABILITIES = ['memory', 'quiesce', 'revert_any', 'tree', 'linked_spawn', 'export'];

export function capabilityChips(caps) {
  return el('span', { class: 'caps' }, CAPABILITIES.map((name) => el('span', {
    class: `cap ${caps[name] ? 'on' : 'off'}`, title: `${name}: ${caps[name] ? 'yes' : 'no'}`,
  }, name.replace('_', ' '))));
}

export function taskCell(server) {
  return server.task_state ? el('span', { class: 'task busy' }, server.task_state) : el('span', { class: 'task idle' }, '–');
}

