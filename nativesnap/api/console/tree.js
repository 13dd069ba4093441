// The snapshot tree of one server (docs/console.md, "The tree"), drawn from the
// snapshot list alone: parent_id gives the shape, is_current the position.
// A chain of single children continues at the same level, as a timeline; a
// snapshot with more than one child (the "you are here" marker counts as one)
// opens one nested branch per child, so the nesting shows every fork.

import { bytes, el, ms, when } from './dom.js';

const BUSY = new Set(['creating', 'deleting', 'queued']);

export function busySnapshot(snap) {
  return BUSY.has(snap.status) || (snap.images || []).some((i) => i.status === 'saving');
}

function byCreated(a, b) {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

function progressBar(label, value) {
  return el('div', { class: 'progress-row' },
    el('progress', { class: 'progress', max: 100, value: value || 0, 'aria-label': label }),
    el('span', { class: 'progress-label' }, `${label} ${value || 0}%`));
}

function nodeCard(snap, context) {
  const current = snap.id === context.currentId;
  const saving = (snap.images || []).filter((i) => i.status === 'saving');
  const card = el('div', {
    class: `card status-${snap.status}${current ? ' current' : ''}${snap.id === context.selectedId ? ' selected' : ''}`,
    tabindex: 0,
    role: 'button',
    dataset: { snapshotId: snap.id },
  },
  el('span', { class: 'snap-name' }, snap.name),
  el('span', { class: `badge status status-${snap.status}` }, snap.status),
  snap.memory ? el('span', { class: 'badge memory', title: 'RAM state included' }, 'RAM') : null,
  snap.consistency && !(snap.memory && snap.consistency === 'memory') ? el('span', { class: `badge consistency consistency-${snap.consistency}` }, snap.consistency) : null,
  current ? el('span', { class: 'here-flag' }, 'current') : null,
  el('span', { class: 'meta created' }, when(snap.created_at)),
  el('span', { class: 'meta size', title: 'size of this layer' }, bytes(snap.size_bytes)),
  snap.frozen_ms !== null ? el('span', { class: 'meta frozen', title: 'guest filesystems frozen' }, `frozen ${ms(snap.frozen_ms)}`) : null,
  snap.paused_ms !== null ? el('span', { class: 'meta paused', title: 'guest vCPUs paused' }, `paused ${ms(snap.paused_ms)}`) : null,
  (context.linked.get(snap.id) || []).length ? el('span', { class: 'badge linked' }, `${context.linked.get(snap.id).length} linked`) : null,
  (snap.volumes || []).length ? el('span', { class: 'badge volumes' }, `${snap.volumes.length} volume${snap.volumes.length > 1 ? 's' : ''}`) : null,
  snap.policy_id ? el('span', { class: 'badge policy', title: 'taken by a snapshot policy' }, context.policyName(snap.policy_id)) : null,
  (snap.images || []).length ? el('span', { class: 'badge exported' }, `${snap.images.length} export${snap.images.length > 1 ? 's' : ''}`) : null,
  BUSY.has(snap.status) ? progressBar(snap.status, snap.progress) : null,
  saving.map((image) => progressBar('exporting', image.progress)));
  return card;
}

function hereNode() {
  return el('li', { class: 'node now', id: 'you-are-here' },
    el('div', { class: 'card now-card' }, el('span', { class: 'now-label' }, 'NOW'),
      el('span', { class: 'here-text' }, 'you are here')));
}

// The <ul> of the tree; context: {currentId, selectedId, linked: Map}.
export function renderTree(snapshots, context) {
  const ids = new Set(snapshots.map((s) => s.id));
  const children = new Map();
  const roots = [];
  for (const snap of [...snapshots].sort(byCreated)) {
    if (snap.parent_id && ids.has(snap.parent_id)) {
      if (!children.has(snap.parent_id)) children.set(snap.parent_id, []);
      children.get(snap.parent_id).push(snap);
    } else {
      roots.push(snap);
    }
  }
  const HERE = null;
  const kidsOf = (id) => {
    const kids = [...(children.get(id) || [])];
    if (id === context.currentId) kids.push(HERE);
    return kids;
  };
  // Walk one chain into ul; forks open nested branches (their depth is the
  // number of forks above, so the recursion stays shallow).
  const chain = (ul, first) => {
    let snap = first;
    while (snap) {
      const li = el('li', { class: 'node', dataset: { snapshotId: snap.id, parentId: snap.parent_id || '' } },
        nodeCard(snap, context));
      ul.append(li);
      const kids = kidsOf(snap.id);
      if (kids.length === 1) {
        if (kids[0] === HERE) {
          ul.append(hereNode());
          return;
        }
        [snap] = kids;
      } else {
        for (const kid of kids) {
          const branch = el('ul', { class: 'branch' });
          li.append(branch);
          if (kid === HERE) branch.append(hereNode());
          else chain(branch, kid);
        }
        return;
      }
    }
  };
  const top = el('ul', { class: 'tree', id: 'tree' });
  const starts = [...roots];
  if (!context.currentId || !ids.has(context.currentId)) starts.push(HERE);
  for (const root of starts) {
    const ul = starts.length > 1 ? el('ul', { class: 'branch' }) : top;
    if (ul !== top) top.append(el('li', { class: 'root' }, ul));
    if (root === HERE) ul.append(hereNode());
    else chain(ul, root);
  }
  return top;
}
