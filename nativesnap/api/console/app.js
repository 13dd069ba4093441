// The nativesnap console (docs/console.md): sign-in, the server list, and the
// shell every page shares (faults, notices, confirmation dialogs, polling with
// back-off). It talks only to the public REST API, as the signed-in user.

import { call, consoleCall, listAll, session, uuid } from './api.js';
import { clear, el, when } from './dom.js';
import { serverPage } from './server.js';
import {
  capabilityChips, failed, hideFault, hideNotice, poll, rendered, showFault, taskCell, ui,
} from './shell.js';

const main = document.getElementById('main');

// ---- sign-in ----------------------------------------------------------------------

function field(label, input, hint) {
  return el('label', { class: 'field' }, el('span', {}, label), input,
    hint ? el('small', { class: 'hint' }, hint) : null);
}

function noauthIdentity(token) {
  const [user, project] = token.split(':');
  // noauth2's rule (docs/console.md): the user named admin is an administrator.
  return { user, project, admin: user === 'admin' };
}

async function signIn(form) {
  const value = (name) => form.elements[name].value.trim();
  let token;
  let identity;
  if (ui.config.password_sign_in && value('username')) {
    const answer = await consoleCall('POST', '/ui/login', {
      username: value('username'), password: form.elements.password.value,
      project_name: value('project'), user_domain_name: value('domain') || 'Default',
      project_domain_name: value('domain') || 'Default',
    });
    token = answer.token;
    identity = { user: answer.user, project: answer.project, admin: answer.roles.includes('admin') };
  } else {
    token = value('token');
    if (!token) throw new Error('Enter a token.');
    identity = ui.config.auth_strategy === 'noauth2' ? noauthIdentity(token)
      : { user: 'token', project: '', admin: null };
  }
  session.start(token, identity);
  try {
    await call('GET', '/v1/servers?limit=1');
  } catch (err) {
    session.end();
    throw err;
  }
  ui.allProjects = identity.admin === true;
}

function signInPage() {
  const keystone = ui.config.auth_strategy === 'keystone';
  const form = el('form', { id: 'sign-in-form', class: 'panel sign-in', autocomplete: 'off' },
    el('h1', {}, 'Sign in'),
    ui.config.password_sign_in ? [
      field('User name', el('input', { name: 'username', id: 'username', autocomplete: 'username' })),
      field('Password', el('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password' })),
      field('Project', el('input', { name: 'project', id: 'project' })),
      field('Domain', el('input', { name: 'domain', id: 'domain', value: 'Default' })),
      el('p', { class: 'hint' }, 'or paste a token:'),
    ] : null,
    field('Token', el('input', { name: 'token', id: 'token', type: 'password', spellcheck: false, autocomplete: 'off' }),
      keystone ? 'A Keystone token (openstack token issue).'
        : 'noauth2: <user>:<project>; the user named admin is an administrator.'),
    el('button', { type: 'submit', id: 'sign-in', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    hideFault();
    signIn(form).then(() => {
      if (!location.hash || location.hash === '#/sign-in') location.hash = '#/servers';
      else route();
    }, showFault);
  });
  clear(main).append(form);
  rendered('sign-in');
  form.querySelector('input').focus();
}

// ---- the server list ------------------------------------------------------------------

function serverRow(server, showProject) {
  return el('tr', { class: 'server-row', dataset: { serverId: server.id } },
    el('td', { class: 'name' }, el('a', { href: `#/servers/${server.id}` }, server.name)),
    el('td', { class: 'status' }, el('span', { class: `badge server-${server.status}` }, server.status)),
    el('td', { class: 'task-state' }, taskCell(server)),
    el('td', { class: 'driver' }, server.driver),
    el('td', { class: 'host' }, server.host || '–'),
    el('td', { class: 'capabilities' }, capabilityChips(server.capabilities)),
    showProject ? el('td', { class: 'project' }, server.project_id) : null,
    el('td', { class: 'created' }, when(server.created_at)));
}

function options(id, label, values, selected) {
  return el('select', { id, 'aria-label': label },
    el('option', { value: '' }, label),
    [...values].sort().map((v) => el('option', { value: v, selected: v === selected }, v)));
}

async function serversPage() {
  const identity = session.identity || {};
  if (ui.allProjects === null) ui.allProjects = identity.admin === true;
  const servers = await listAll('/v1/servers', 'servers', ui.allProjects ? { all_projects: 'true' } : {});
  for (const s of servers) ui.servers.set(s.id, s);
  const filters = { search: '', status: '', driver: '' };
  const search = el('input', { id: 'server-search', type: 'search', placeholder: 'Search name or id', 'aria-label': 'Search' });
  const status = options('server-status', 'Any status', new Set(servers.map((s) => s.status)));
  const driver = options('server-driver', 'Any driver', new Set(servers.map((s) => s.driver)));
  const all = el('input', { type: 'checkbox', id: 'all-projects', checked: ui.allProjects });
  const body = el('tbody');
  const count = el('span', { id: 'server-count', class: 'count' });
  const fill = () => {
    const needle = filters.search.toLowerCase();
    const shown = servers.filter((s) => (!needle || s.name.toLowerCase().includes(needle) || s.id.includes(needle))
      && (!filters.status || s.status === filters.status) && (!filters.driver || s.driver === filters.driver));
    clear(body).append(...shown.map((s) => serverRow(s, ui.allProjects)));
    count.textContent = `${shown.length} of ${servers.length}`;
    if (!shown.length) body.append(el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No servers match.')));
  };
  search.addEventListener('input', () => { filters.search = search.value.trim(); fill(); });
  status.addEventListener('change', () => { filters.status = status.value; fill(); });
  driver.addEventListener('change', () => { filters.driver = driver.value; fill(); });
  all.addEventListener('change', () => { ui.allProjects = all.checked; route(); });
  fill();
  clear(main).append(el('section', { class: 'panel', id: 'servers-view' },
    el('div', { class: 'title-row' }, el('h1', {}, 'Servers'), count),
    el('div', { class: 'filters' }, search, status, driver,
      identity.admin !== false ? el('label', { class: 'check' }, all, ' All projects') : null),
    el('table', { id: 'servers' },
      el('thead', {}, el('tr', {}, ['Name', 'Status', 'Task', 'Driver', 'Host', 'Capabilities']
        .concat(ui.allProjects ? ['Project'] : [], ['Created']).map((h) => el('th', {}, h)))),
      body)));
  rendered('servers');
  const busy = () => servers.some((s) => s.task_state);
  if (busy()) {
    poll(async () => {
      const fresh = await listAll('/v1/servers', 'servers', ui.allProjects ? { all_projects: 'true' } : {});
      servers.splice(0, servers.length, ...fresh);
      fill();
    }, busy).kick();
  }
}

// ---- navigation -------------------------------------------------------------------------

function showIdentity() {
  const identity = session.identity;
  const who = document.getElementById('whoami');
  who.textContent = identity ? `${identity.user}${identity.project ? ` · ${identity.project}` : ''}${identity.admin ? ' (admin)' : ''}` : '';
  document.getElementById('sign-out').hidden = !identity;
}

function crumbs(parts) {
  clear(document.getElementById('crumbs')).append(...parts);
}

export async function route() {
  ui.generation += 1;
  clearTimeout(ui.timer);
  main.dataset.ready = 'false';
  hideNotice();
  showIdentity();
  if (!session.token) {
    crumbs([]);
    signInPage();
    return;
  }
  const match = location.hash.match(/^#\/servers\/([^/?#]+)$/);
  try {
    if (match) {
      const id = uuid(match[1]);
      if (!id) throw new Error('That is not a server id.');
      crumbs([el('a', { href: '#/servers' }, 'Servers'), ' / ', el('span', { id: 'crumb-server' }, '…')]);
      await serverPage(id);
    } else {
      crumbs([el('span', {}, 'Servers')]);
      await serversPage();
    }
  } catch (err) {
    failed(err);
    rendered('error');
  }
}

async function start() {
  ui.route = route;
  try {
    ui.config = await consoleCall('GET', '/ui/config.json');
  } catch (err) {
    showFault(err);
    return;
  }
  document.getElementById('sign-out').addEventListener('click', () => {
    session.end();
    ui.servers.clear();
    ui.allProjects = null;
    hideFault();
    location.hash = '#/sign-in';
    route();
  });
  window.addEventListener('hashchange', () => {
    hideFault();
    route();
  });
  await route();
}

start();
