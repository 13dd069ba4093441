// DOM helpers of the nativesnap console (docs/console.md, "Safe by construction").
// Every string reaches the page as a text node or an attribute value set through
// the DOM: nothing is ever parsed as HTML, so a name such as
// <img src=x onerror=alert(1)> shows as those characters.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(value) {
  if (value === null || value === undefined) return '–';
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < UNITS.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit ? size.toFixed(size < 10 ? 1 : 0) : size} ${UNITS[unit]}`;
}

export function when(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function ms(value) {
  return value === null || value === undefined ? '–' : `${value} ms`;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

// A message as text whose ids of known servers become links to them
// (a refused delete names the linked clones that depend on the snapshot).
export function linkified(message, servers) {
  const parts = [];
  let last = 0;
  for (const match of String(message).matchAll(UUID)) {
    parts.push(message.slice(last, match.index));
    const id = match[0].toLowerCase();
    parts.push(servers.has(id)
      ? el('a', { href: `#/servers/${id}`, class: 'server-link', dataset: { serverId: id } }, id)
      : match[0]);
    last = match.index + match[0].length;
  }
  parts.push(String(message).slice(last));
  return parts;
}
