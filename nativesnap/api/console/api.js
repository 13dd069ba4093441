// The REST API as the console calls it (docs/console.md): the user's token from
// session storage in X-Auth-Token, never in a URL; microversion 1.2; a refusal
// becomes an ApiError carrying the API's own fault message.

const TOKEN_KEY = 'nativesnap.token';
const IDENTITY_KEY = 'nativesnap.identity';
export const VERSION = 'snapshot 1.2';
export const PAGE = 1000;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get identity() {
    try {
      return JSON.parse(sessionStorage.getItem(IDENTITY_KEY) || 'null');
    } catch {
      return null;
    }
  },
  start(token, identity) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(IDENTITY_KEY, JSON.stringify(identity));
  },
  end() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(IDENTITY_KEY);
  },
};

async function send(method, path, body, headers) {
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `nativesnap-api did not answer (${err.message}).`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const fault = data && typeof data === 'object' ? Object.values(data)[0] : null;
    const message = fault && fault.message ? fault.message : `HTTP ${resp.status}`;
    throw new ApiError(resp.status, message);
  }
  return data;
}

export function call(method, path, body) {
  const headers = { Accept: 'application/json', 'OpenStack-API-Version': VERSION };
  const token = session.token;
  if (token) headers['X-Auth-Token'] = token;
  return send(method, path, body, headers);
}

export function consoleCall(method, path, body) {
  return send(method, path, body, { Accept: 'application/json' });
}

// Every item of a list, one request per PAGE items (the API's largest page).
export async function listAll(path, key, params) {
  const items = [];
  let marker = null;
  for (;;) {
    const query = new URLSearchParams(params || {});
    query.set('limit', String(PAGE));
    if (marker) query.set('marker', marker);
    const data = await call('GET', `${path}?${query}`);
    const page = data[key] || [];
    items.push(...page);
    if (!data[`${key}_links`] || page.length === 0) return items;
    marker = page[page.length - 1].id;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// An id that goes into a path: only a UUID (the API's ids), else null.
export function uuid(value) {
  const id = String(value || '').toLowerCase();
  return UUID.test(id) ? id : null;
}
