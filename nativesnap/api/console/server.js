// One server's page (docs/console.md): its header, the take-a-snapshot form,
// the snapshot tree and the selected snapshot's details and actions. While
// anything is in flight (a task on the server, a snapshot being created or
// deleted, an export saving) the page polls with back-off.

import { ApiError, call, listAll, session } from './api.js';
import { bytes, clear, el, ms, when } from './dom.js';
import {
  ask, capabilityChips, hideFault, notice, poll, rendered, showFault, taskCell, ui,
} from './shell.js';
import { busySnapshot, renderTree } from './tree.js';

const QUIESCE = [
  ['preferred', 'preferred: freeze if the guest agent answers'],
  ['required', 'required: refuse if the guest cannot be frozen'],
  ['off', 'off: crash-consistent'],
];

function reason(text) {
  return el('small', { class: 'reason' }, text);
}

function takeForm(page) {
  const caps = page.server.capabilities;
  const name = el('input', { id: 'snap-name', name: 'name', required: true, maxlength: 255, placeholder: 'Name', 'aria-label': 'Snapshot name' });
  const memory = el('input', { type: 'checkbox', id: 'snap-memory', disabled: !caps.memory });
  const quiesce = el('select', { id: 'snap-quiesce', 'aria-label': 'Quiesce' },
    QUIESCE.map(([value, label]) => el('option', {
      value, disabled: !caps.quiesce && value !== 'off', selected: caps.quiesce ? value === 'preferred' : value === 'off',
    }, label)));
  const volumes = el('input', { type: 'checkbox', id: 'snap-volumes' });
  const form = el('form', { id: 'take-form', class: 'take' },
    el('h2', {}, 'Take a snapshot'),
    el('div', { class: 'row' }, name,
      el('button', { type: 'submit', id: 'take-submit', class: 'primary' }, 'Take snapshot')),
    el('div', { class: 'row options' },
      el('label', { class: `check${caps.memory ? '' : ' disabled'}` }, memory, ' with memory (RAM)',
        caps.memory ? null : reason(' — not offered: the server is not running, or its driver cannot save RAM')),
      el('label', { class: `check${caps.quiesce ? '' : ' disabled'}` }, 'quiesce ', quiesce,
        caps.quiesce ? null : reason(' — no guest agent answers: the snapshot is crash-consistent')),
      el('label', { class: 'check' }, volumes, ' include attached volumes')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    hideFault();
    const body = { name: name.value.trim(), memory: memory.checked, quiesce: quiesce.value, include_volumes: volumes.checked };
    call('POST', `/v1/servers/${page.id}/snapshots`, { snapshot: body }).then((answer) => {
      name.value = '';
      page.selectedId = answer.snapshot.id;
      notice(`Taking snapshot “${answer.snapshot.name}”…`);
      return page.refresh();
    }).catch(showFault);
  });
  return form;
}

function header(page) {
  const s = page.server;
  const source = s.source_snapshot_id
    ? el('span', {}, `${s.linked ? 'linked clone' : 'full copy'} of snapshot ${s.source_snapshot_id}`) : null;
  return el('div', { class: 'server-head', id: 'server-head' },
    el('h1', { id: 'server-name' }, s.name),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Status'), el('dd', { id: 'server-status' }, el('span', { class: `badge server-${s.status}` }, s.status)),
      el('dt', {}, 'Task'), el('dd', { id: 'server-task' }, taskCell(s)),
      el('dt', {}, 'Driver'), el('dd', {}, s.driver),
      el('dt', {}, 'Host'), el('dd', {}, s.host || '–'),
      el('dt', {}, 'Project'), el('dd', {}, s.project_id),
      el('dt', {}, 'Capabilities'), el('dd', {}, capabilityChips(s.capabilities)),
      source ? [el('dt', {}, 'Spawned'), el('dd', {}, source)] : null,
      (s.queued || []).length ? [el('dt', {}, 'Queued'), el('dd', {}, (s.queued || []).map((q) => `${q.action} `))] : null,
      s.fault ? [el('dt', {}, 'Fault'), el('dd', { class: 'fault-text' }, JSON.stringify(s.fault))] : null));
}

function serverLink(server) {
  return el('a', { href: `#/servers/${server.id}`, class: 'server-link', dataset: { serverId: server.id } }, server.name);
}

function row(label, field, ...value) {
  return [el('dt', {}, label), el('dd', { dataset: { field } }, ...value)];
}

function detailsPanel(page) {
  const snap = page.snapshots.find((s) => s.id === page.selectedId);
  if (!snap) {
    return el('aside', { id: 'details', class: 'panel details' },
      el('p', { class: 'hint' }, 'Select a snapshot in the tree to see its details and actions.'));
  }
  const policy = snap.policy_id ? page.policies.get(snap.policy_id) : null;
  const linked = page.linked.get(snap.id) || [];
  const available = snap.status === 'available';
  const action = (id, label, handler, enabled, why, danger) => el('button', {
    type: 'button', id, class: danger ? 'danger' : '', disabled: !enabled, title: enabled ? '' : why,
    onclick: () => { hideFault(); handler(page, snap).catch(showFault); },
  }, label);
  const notAvailable = `only an available snapshot (this one is ${snap.status})`;
  return el('aside', { id: 'details', class: 'panel details', dataset: { snapshotId: snap.id } },
    el('h2', { id: 'details-name' }, snap.name),
    el('div', { class: 'actions' },
      action('action-revert', 'Revert', revert, available, notAvailable),
      action('action-spawn', 'Spawn', spawn, available, notAvailable),
      action('action-export', 'Export', exportImage, available && page.server.capabilities.export, available ? 'the server cannot export' : notAvailable),
      action('action-delete', 'Delete', remove, !['deleting', 'creating'].includes(snap.status), 'not while it is in flight', true)),
    el('dl', { class: 'facts' },
      row('Id', 'id', snap.id),
      row('Status', 'status', snap.status, snap.progress !== null && busySnapshot(snap) ? ` (${snap.progress}%)` : ''),
      row('Created', 'created_at', when(snap.created_at)),
      row('Description', 'description', snap.description || '–'),
      row('Kind', 'kind', snap.kind || '–'),
      row('Memory', 'memory', snap.memory ? 'yes (RAM saved)' : 'no'),
      row('Quiesce', 'quiesce', snap.quiesce || '–'),
      row('Consistency', 'consistency', snap.consistency || '–'),
      row('Frozen', 'frozen_ms', ms(snap.frozen_ms)),
      row('Paused', 'paused_ms', ms(snap.paused_ms)),
      row('Size', 'size_bytes', bytes(snap.size_bytes)),
      row('Volumes', 'volumes', (snap.volumes || []).length
        ? el('ul', {}, snap.volumes.map((v) => el('li', {}, typeof v === 'string' ? v : (v.volume_id || v.id || JSON.stringify(v))))) : 'none'),
      row('Policy', 'policy', snap.policy_id ? (policy ? policy.name : snap.policy_id) : 'taken by hand'),
      row('Linked servers', 'linked', linked.length ? el('ul', {}, linked.map((s) => el('li', {}, serverLink(s)))) : 'none'),
      row('Exports', 'images', (snap.images || []).length ? el('ul', {}, snap.images.map((i) => el('li', { class: 'image' },
        `${i.name} · ${i.disk_format} · ${i.status}`, i.status === 'saving' ? ` ${i.progress || 0}%` : '',
        i.size_bytes ? ` · ${bytes(i.size_bytes)}` : ''))) : 'none'),
      snap.fault ? row('Fault', 'fault', JSON.stringify(snap.fault)) : null));
}

// ---- actions ---------------------------------------------------------------------------

async function revert(page, snap) {
  const current = page.snapshots.find((s) => s.is_current);
  const lost = current
    ? `Everything ${page.server.name} wrote since its current snapshot “${current.name}” is lost.`
    : `Everything ${page.server.name} wrote since its last snapshot is lost.`;
  const ok = await ask({
    title: `Revert ${page.server.name} to “${snap.name}”?`,
    body: [el('p', { id: 'revert-lost' }, lost,
      ' Its disks', snap.memory ? ' and memory' : '', ` go back to the state of ${when(snap.created_at)}.`),
    el('p', {}, snap.memory ? 'The guest continues from the memory saved in the snapshot.'
      : 'The snapshot holds no memory: the guest starts from its disks, as after a power cut.'),
    el('p', {}, 'No snapshot is deleted. To keep the present state, take a snapshot first.')],
    confirm: 'Revert',
    danger: true,
  });
  if (!ok) return;
  await call('POST', `/v1/servers/${page.id}/action`, { revert: { snapshot_id: snap.id } });
  notice(`Reverting to “${snap.name}”…`);
  await page.refresh();
}

async function remove(page, snap) {
  const ok = await ask({
    title: `Delete snapshot “${snap.name}”?`,
    body: [el('p', {}, 'The snapshot goes; the server as it is now does not change. Data that later snapshots still need is kept in them.')],
    confirm: 'Delete',
    danger: true,
  });
  if (!ok) return;
  try {
    await call('DELETE', `/v1/servers/${page.id}/snapshots/${snap.id}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      // The linked clones of this snapshot's branch (it and what was taken after it).
      const branch = new Set([snap.id]);
      for (const s of [...page.snapshots].sort((a, b) => (a.created_at < b.created_at ? -1 : 1))) {
        if (branch.has(s.parent_id)) branch.add(s.id);
      }
      const linked = [...branch].flatMap((id) => page.linked.get(id) || []);
      showFault(err, linked.length ? el('span', { class: 'dependents' }, ' Linked servers: ',
        linked.map((s, i) => [i ? ', ' : '', serverLink(s)])) : '');
      return;
    }
    throw err;
  }
  notice(`Deleting “${snap.name}”…`);
  await page.refresh();
}

async function spawn(page, snap) {
  const linkedOk = page.server.capabilities.linked_spawn;
  const name = el('input', { id: 'spawn-name', maxlength: 255, required: true, value: `${page.server.name}-${snap.name}`.slice(0, 255) });
  const linked = el('input', { type: 'checkbox', id: 'spawn-linked', checked: linkedOk, disabled: !linkedOk });
  const values = await ask({
    title: `Spawn a new server from “${snap.name}”`,
    body: [el('label', { class: 'field' }, el('span', {}, 'Name'), name),
      el('label', { class: 'check' }, linked, ' linked clone (shares the snapshot\'s data; otherwise a full copy)',
        linkedOk ? null : reason(' — the driver cannot make linked clones'))],
    confirm: 'Spawn',
    collect: () => ({ name: name.value.trim(), linked: linked.checked }),
  });
  if (!values) return;
  const answer = await call('POST', '/v1/servers', { server: { name: values.name, snapshot_id: snap.id, linked: values.linked } });
  ui.servers.set(answer.server.id, answer.server);
  notice('Spawning ', serverLink(answer.server), ` from “${snap.name}”.`);
  await page.refresh();
}

async function exportImage(page, snap) {
  const name = el('input', { id: 'export-name', maxlength: 255, required: true, value: snap.name });
  const format = el('select', { id: 'export-format' }, ['qcow2', 'raw'].map((f) => el('option', { value: f }, f)));
  const values = await ask({
    title: `Export “${snap.name}” as an image`,
    body: [el('label', { class: 'field' }, el('span', {}, 'Image name'), name),
      el('label', { class: 'field' }, el('span', {}, 'Disk format'), format)],
    confirm: 'Export',
    collect: () => ({ image_name: name.value.trim(), disk_format: format.value }),
  });
  if (!values) return;
  await call('POST', `/v1/servers/${page.id}/snapshots/${snap.id}/action`, { export: values });
  notice(`Exporting “${snap.name}”…`);
  await page.refresh();
}

// ---- the page ----------------------------------------------------------------------------

async function fetchServer(page) {
  const [server, snapshots] = await Promise.all([
    call('GET', `/v1/servers/${page.id}`),
    listAll(`/v1/servers/${page.id}/snapshots`, 'snapshots'),
  ]);
  page.server = server.server;
  page.snapshots = snapshots;
  ui.servers.set(page.server.id, page.server);
}

// Which servers are linked clones of which snapshot (their dependents).
function findLinked(page) {
  page.linked = new Map();
  for (const other of ui.servers.values()) {
    if (other.linked && other.source_snapshot_id) {
      if (!page.linked.has(other.source_snapshot_id)) page.linked.set(other.source_snapshot_id, []);
      page.linked.get(other.source_snapshot_id).push(other);
    }
  }
}

async function load(page) {
  await fetchServer(page);
  findLinked(page);
}

function draw(page) {
  document.getElementById('crumb-server').textContent = page.server.name;
  const current = page.snapshots.find((s) => s.is_current);
  const context = {
    currentId: current ? current.id : null,
    selectedId: page.selectedId,
    linked: page.linked,
    policyName: (id) => (page.policies.has(id) ? page.policies.get(id).name : 'policy'),
  };
  const tree = renderTree(page.snapshots, context);
  tree.addEventListener('click', (event) => {
    const card = event.target.closest('.card[data-snapshot-id]');
    if (!card) return;
    page.selectedId = card.dataset.snapshotId;
    draw(page);
  });
  tree.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && event.target.dataset.snapshotId) event.target.click();
  });
  page.head.replaceWith(page.head = header(page));
  clear(page.treeBox).append(
    el('h2', {}, `Snapshots `, el('span', { class: 'count', id: 'snapshot-count' }, String(page.snapshots.length))),
    tree);
  page.details.replaceWith(page.details = detailsPanel(page));
}

async function serverLinks() {
  // The servers spawned from this one's snapshots (its dependents) may be in
  // other projects only for an administrator.
  const identity = session.identity || {};
  const servers = await listAll('/v1/servers', 'servers', identity.admin ? { all_projects: 'true' } : {});
  for (const s of servers) ui.servers.set(s.id, s);
}

async function policyNames(page) {
  try {
    // Policies are few and not paginated; an administrator's may be any project's.
    const query = (session.identity || {}).admin ? '?all_projects=true' : '';
    const answer = await call('GET', `/v1/snapshot-policies${query}`);
    page.policies = new Map(answer.snapshot_policies.map((p) => [p.id, p]));
  } catch {
    page.policies = new Map(); // names only: the ids still show
  }
}

export async function serverPage(id) {
  const generation = ui.generation;
  const page = { id, selectedId: null, policies: new Map(), linked: new Map() };
  await Promise.all([serverLinks(), policyNames(page), fetchServer(page)]);
  findLinked(page);
  if (generation !== ui.generation) return;
  const main = document.getElementById('main');
  page.head = el('div');
  page.treeBox = el('section', { class: 'tree-box', id: 'tree-box' });
  page.details = el('aside');
  clear(main).append(el('div', { class: 'server-page', id: 'server-view' },
    el('section', { class: 'panel' }, page.head, takeForm(page)),
    el('div', { class: 'columns' }, el('section', { class: 'panel tree-panel' }, page.treeBox), page.details)));
  draw(page);
  performance.mark('nativesnap:tree-rendered');
  rendered('server');
  const busy = () => Boolean(page.server.task_state) || page.snapshots.some(busySnapshot);
  const poller = poll(async () => {
    await load(page);
    if (generation === ui.generation) draw(page);
  }, busy);
  // After an action: the server and its snapshots again (a spawn adds its
  // new server to ui.servers itself; the list was read when the page opened).
  page.refresh = async () => {
    await load(page);
    if (generation !== ui.generation) return;
    draw(page);
    poller.kick();
  };
  poller.kick();
  return page;
}
