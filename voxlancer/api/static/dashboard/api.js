// The one way pages talk to the API: JSON in and out, the session's CSRF token on every change,
// and errors in the API's own words ({"error", "code"}). The token lives in this module's
// memory only (never localStorage); the session itself is an HttpOnly cookie scripts cannot read.

let csrfToken = '';
let signedOut = () => {};

export function setSession(token, onSignedOut) {
  csrfToken = token;
  signedOut = onSignedOut;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `The server answered ${status}.`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function failure(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON: a proxy's page */ }
  const error = new ApiError(resp.status, body);
  if (error.code === 'session_expired') signedOut();
  return error;
}

function send(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  return fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
}

// The parsed JSON answer (null for 204), or an ApiError.
export async function api(method, path, body) {
  const resp = await send(method, path, body);
  if (!resp.ok) throw await failure(resp);
  return resp.status === 204 ? null : resp.json();
}

// A page of a list: its items and the cursor of the next page (null on the last).
export async function apiPage(path) {
  const resp = await send('GET', path);
  if (!resp.ok) throw await failure(resp);
  return { items: await resp.json(), next: resp.headers.get('X-Next-Cursor') };
}

export async function apiBlob(method, path, body) {
  const resp = await send(method, path, body);
  if (!resp.ok) throw await failure(resp);
  return resp.blob();
}

// A file upload with real progress (fetch cannot report upload progress; XHR can).
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(xhr.response); return; }
      const error = new ApiError(xhr.status, xhr.response);
      if (error.code === 'session_expired') signedOut();
      reject(error);
    };
    xhr.onerror = () => reject(new ApiError(0, { error: 'The upload did not reach the server.' }));
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}
