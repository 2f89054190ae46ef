// The ximagepipeline dashboard: one module, no dependencies. It only talks to
// the HTTP API, whose prefix the server writes into <html data-api-prefix>.

const API = document.documentElement.dataset.apiPrefix || '';
const api = (path) => API + path;

// An API key, when the server asks for one (401): sent as a bearer token,
// kept for this tab only.
const KEY_ITEM = 'ximagepipeline.apiKey';
let apiKey = sessionStorage.getItem(KEY_ITEM) || '';
const authHeaders = () => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {});

function askForKey(message) {
  const box = $('#key-box');
  box.open = true;
  $('#key-hint').textContent = message;
  $('#key-hint').classList.add('error');
  $('#api-key').focus();
}

function setupKey() {
  $('#api-key').value = apiKey;
  $('#key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    apiKey = $('#api-key').value.trim();
    if (apiKey) sessionStorage.setItem(KEY_ITEM, apiKey);
    else sessionStorage.removeItem(KEY_ITEM);
    $('#key-hint').classList.remove('error');
    $('#key-hint').textContent = apiKey ? 'Key set for this tab.' : 'No key: requests go without one.';
    $('#key-box').open = false;
    await loadConfig();
    showGallery($('#gal-type').value, $('#gal-id').value.trim());
  });
}

// ---------------------------------------------------------------- BlurHash

const B83 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

function base83(s) {
  let n = 0;
  for (const c of s) {
    const d = B83.indexOf(c);
    if (d < 0) throw new Error('blurhash: bad character ' + c);
    n = n * 83 + d;
  }
  return n;
}

const toLinear = (c) => {
  const v = c / 255;
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
};

const toSRGB = (v) => {
  const c = Math.min(1, Math.max(0, v));
  return Math.round(255 * (c <= 0.0031308 ? c * 12.92 : 1.055 * Math.pow(c, 1 / 2.4) - 0.055));
};

// decodeBlurHash returns the RGBA pixels (width x height) that a BlurHash
// stands for: a sum of cosines whose coefficients the hash carries.
export function decodeBlurHash(hash, width, height, punch = 1) {
  if (typeof hash !== 'string' || hash.length < 6) throw new Error('blurhash: too short');
  const size = base83(hash[0]);
  const nx = (size % 9) + 1;
  const ny = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) throw new Error('blurhash: length does not match its size');
  const maxAC = ((base83(hash[1]) + 1) / 166) * punch;

  // coefficients[k] = [r, g, b] in linear light, k = i + j*nx
  const coefficients = new Array(nx * ny);
  const dc = base83(hash.slice(2, 6));
  coefficients[0] = [toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)];
  const ac = (q) => {
    const v = (q - 9) / 9;
    return Math.sign(v) * v * v * maxAC;
  };
  for (let k = 1; k < nx * ny; k++) {
    const v = base83(hash.slice(4 + 2 * k, 6 + 2 * k));
    coefficients[k] = [ac(Math.floor(v / 361)), ac(Math.floor(v / 19) % 19), ac(v % 19)];
  }

  // The cosines depend on x or y alone: compute each table once.
  const cosX = new Float64Array(width * nx);
  for (let x = 0; x < width; x++) for (let i = 0; i < nx; i++) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
  const cosY = new Float64Array(height * ny);
  for (let y = 0; y < height; y++) for (let j = 0; j < ny; j++) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);

  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < ny; j++) {
        const cy = cosY[y * ny + j];
        for (let i = 0; i < nx; i++) {
          const basis = cosX[x * nx + i] * cy;
          const c = coefficients[i + j * nx];
          r += c[0] * basis;
          g += c[1] * basis;
          b += c[2] * basis;
        }
      }
      const o = 4 * (y * width + x);
      out[o] = toSRGB(r);
      out[o + 1] = toSRGB(g);
      out[o + 2] = toSRGB(b);
      out[o + 3] = 255;
    }
  }
  return out;
}

// blurCanvas paints a BlurHash, small, on a canvas that CSS stretches: the
// browser's smoothing does the rest.
function blurCanvas(hash, ratio) {
  const canvas = h('canvas', { class: 'blur', 'aria-hidden': 'true' });
  const w = 32;
  const ht = Math.max(1, Math.min(64, Math.round(w / (ratio || 1))));
  canvas.width = w;
  canvas.height = ht;
  try {
    const img = new ImageData(decodeBlurHash(hash, w, ht), w, ht);
    canvas.getContext('2d').putImageData(img, 0, 0);
  } catch {
    canvas.classList.add('none'); // no hash, or a bad one: the neutral background shows
  }
  return canvas;
}

// ---------------------------------------------------------------- helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && !k.includes('-') && k !== 'list' && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

const $ = (sel) => document.querySelector(sel);

function formatBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

async function apiFetch(path, init = {}) {
  const res = await fetch(api(path), { ...init, headers: { ...authHeaders(), ...init.headers } });
  if (res.status === 401 || res.status === 403) {
    askForKey(res.status === 401 ? 'The server asks for an API key.' : 'This API key may not do that.');
  }
  return res;
}

async function getJSON(path, init) {
  const res = await apiFetch(path, init);
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

// ---------------------------------------------------------------- srcset

// srcsetOf reads the server's ready srcsets (media.srcset, per format,
// narrowest first: the variants that keep the image's shape, else the
// crops) and the shape of the pictures they offer, looked up in
// media.variants: the image's own, or the crops' (an avatar's squares).
export function srcsetOf(media) {
  const webp = (media.srcset && media.srcset.webp) || '';
  const avif = (media.srcset && media.srcset.avif) || '';
  const urls = webp ? webp.split(/,\s+/).map((c) => c.trim().split(/\s+/)[0]) : [];
  const widest = Object.values(media.variants || {}).find((v) => v.url === urls[urls.length - 1]);
  const width = (widest ? widest.width : media.width) || 1;
  const height = (widest ? widest.height : media.height) || 1;
  const ratio = media.width && media.height ? media.width / media.height : 1;
  const cropped = Math.abs(width / height - ratio) / ratio > 0.03;
  if (!cropped && media.width && media.height) return { webp, avif, first: urls[0], cropped, width: media.width, height: media.height };
  return { webp, avif, first: urls[0], cropped, width, height };
}

// responsiveImage is the BlurHash placeholder with the right variant over
// it: a <picture> offering AVIF when there is some, WebP otherwise.
function responsiveImage(media, sizes, { eager = false } = {}) {
  const pick = srcsetOf(media);
  const ratio = pick.width / pick.height;
  const frame = h('div', { class: 'frame' });
  frame.style.aspectRatio = `${pick.width} / ${pick.height}`;
  frame.append(blurCanvas(media.blurhash, ratio));
  if (!pick.webp) {
    frame.append(h('span', { class: 'noimg' }, 'no variant'));
    return { frame, pick };
  }
  const img = h('img', {
    alt: `${media.sourceType} image, ${media.width} × ${media.height}`,
    src: pick.first,
    srcset: pick.webp,
    sizes,
    width: String(pick.width),
    height: String(pick.height),
    loading: eager ? 'eager' : 'lazy',
    decoding: 'async',
  });
  const shown = () => frame.classList.add('loaded');
  img.addEventListener('load', shown);
  img.addEventListener('error', () => frame.classList.add('failed'));
  const picture = h('picture', {},
    pick.avif ? h('source', { type: 'image/avif', srcset: pick.avif, sizes }) : null,
    img);
  frame.append(picture);
  if (img.complete && img.naturalWidth > 0) shown();
  return { frame, pick, img };
}

// ---------------------------------------------------------------- config

let config = { sourceTypes: {}, variants: {}, variantPresets: {} };

async function loadConfig() {
  try {
    config = await getJSON('/config');
  } catch (e) {
    $('#gallery-status').textContent = `Could not load the configuration: ${e.message}`;
    return;
  }
  const types = Object.keys(config.sourceTypes).sort();
  for (const sel of [$('#up-type'), $('#gal-type')]) {
    const keep = sel.value || new URLSearchParams(location.search).get('sourceType');
    sel.replaceChildren(...types.map((t) => h('option', { value: t }, t)));
    const def = types.includes(keep) ? keep : types.includes('gallery') ? 'gallery' : types[0];
    if (def) sel.value = def;
  }
  const variants = Object.entries(config.variants)
    .sort(([a, x], [b, y]) => x.width - y.width || (x.height || 0) - (y.height || 0) || a.localeCompare(b));
  $('#variants-table tbody').replaceChildren(...variants.map(([name, v]) => h('tr', {},
    h('th', { scope: 'row' }, h('code', {}, name)),
    h('td', { class: 'num' }, String(v.width)),
    h('td', { class: 'num' }, v.height ? String(v.height) : '–'),
    h('td', {}, v.fit || 'inside'))));
  $('#types-table tbody').replaceChildren(...types.map((t) => {
    const st = config.sourceTypes[t];
    return h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, t)),
      h('td', {}, (st.variants || []).map((v) => h('span', { class: 'chip' }, v))),
      h('td', { class: 'num' }, String(st.quality ?? '–')),
      h('td', {}, (st.formats && st.formats.length ? st.formats : ['webp']).join(', ')),
      h('td', {}, st.storeOriginal ? 'kept' : 'not kept'));
  }));
}

// ---------------------------------------------------------------- upload

const ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_PARALLEL = 3;
let running = 0;
const waiting = [];

function setupUpload() {
  const zone = $('#dropzone');
  const input = $('#file-input');
  input.addEventListener('change', () => {
    queueFiles([...input.files]);
    input.value = '';
  });
  for (const ev of ['dragenter', 'dragover']) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      zone.classList.add('over');
    });
  }
  for (const ev of ['dragleave', 'dragend']) zone.addEventListener(ev, () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    queueFiles([...e.dataTransfer.files]);
  });
  // A file dropped next to the zone must not make the browser leave the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

function queueFiles(files) {
  if (!files.length) return;
  const sourceType = $('#up-type').value;
  const idInput = $('#up-id');
  const sourceId = idInput.value.trim();
  if (!ID_RE.test(sourceId) || sourceId === '.' || sourceId === '..') {
    idInput.setAttribute('aria-invalid', 'true');
    idInput.focus();
    $('#id-hint').classList.add('error');
    return;
  }
  idInput.removeAttribute('aria-invalid');
  $('#id-hint').classList.remove('error');
  for (const file of files) {
    const job = newJobRow(file, sourceType, sourceId);
    waiting.push(() => upload(job));
  }
  pump();
}

function pump() {
  while (running < MAX_PARALLEL && waiting.length) {
    running++;
    waiting.shift()().finally(() => { running--; pump(); });
  }
}

function newJobRow(file, sourceType, sourceId) {
  $('#jobs-empty').hidden = true;
  const progress = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
  const status = h('span', { class: 'badge' }, 'QUEUED');
  const note = h('span', { class: 'note' });
  const actions = h('span', { class: 'actions' });
  const li = h('li', { class: 'job', 'data-status': 'QUEUED' },
    h('div', { class: 'job-head' },
      h('span', { class: 'name', title: file.name }, file.name),
      status),
    progress,
    h('div', { class: 'job-foot' },
      h('span', { class: 'muted' }, `${formatBytes(file.size)} · ${sourceType}/${sourceId}`),
      note, actions));
  $('#jobs').prepend(li);
  const job = { file, sourceType, sourceId, li, progress, status, note, actions, id: null };
  job.set = (state, text = '') => {
    li.dataset.status = state;
    status.textContent = state;
    note.textContent = text;
  };
  return job;
}

// upload sends the file with XMLHttpRequest, whose upload events give the
// progress that fetch does not, then follows the job.
function upload(job, attempt = 1) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('sourceType', job.sourceType);
    form.append('sourceId', job.sourceId);
    form.append('file', job.file, job.file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', api('/upload'));
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((100 * e.loaded) / e.total);
      job.progress.value = pct;
      job.set('UPLOADING', `${pct}%`);
    });
    xhr.addEventListener('load', () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 503 && attempt < 4) {
        const wait = Number(xhr.getResponseHeader('Retry-After')) || 1;
        job.set('QUEUED', `server busy, retrying in ${wait}s`);
        setTimeout(() => upload(job, attempt + 1).then(resolve), wait * 1000);
        return;
      }
      if (xhr.status === 401 || xhr.status === 403) askForKey(body.error || 'The server asks for an API key.');
      if (xhr.status !== 202 || !body.jobId) {
        job.progress.value = 0;
        job.set('REFUSED', body.error || `HTTP ${xhr.status}`);
        resolve();
        return;
      }
      job.progress.value = 100;
      job.id = body.jobId;
      job.li.dataset.jobId = body.jobId;
      job.set('PENDING');
      follow(job);
      resolve();
    });
    xhr.addEventListener('error', () => { job.set('REFUSED', 'network error'); resolve(); });
    xhr.addEventListener('abort', () => { job.set('REFUSED', 'aborted'); resolve(); });
    job.set('UPLOADING', '0%');
    xhr.send(form);
  });
}

const FINAL = new Set(['COMPLETE', 'REJECTED', 'FAILED']);

// follow listens to the job's event stream; should it break before the end,
// it falls back to long polls of the status. EventSource cannot send an API
// key: with one, long polls it is.
function follow(job) {
  if (apiKey) {
    poll(job);
    return;
  }
  const es = new EventSource(api(`/events/${encodeURIComponent(job.id)}`));
  let done = false;
  es.addEventListener('status', (e) => {
    const body = JSON.parse(e.data);
    showStatus(job, body);
    if (FINAL.has(body.status)) {
      done = true;
      es.close();
    }
  });
  es.addEventListener('error', () => {
    if (done) return;
    es.close();
    poll(job);
  });
}

async function poll(job) {
  for (let i = 0; i < 120; i++) {
    try {
      const res = await apiFetch(`/status/${encodeURIComponent(job.id)}?wait=30s`);
      const body = await res.json();
      if (!body.status) { // not a status: 401, 404, a proxy's error...
        job.set('UNKNOWN', body.error || `HTTP ${res.status}`);
        return;
      }
      showStatus(job, body);
      if (FINAL.has(body.status)) return;
    } catch {
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function showStatus(job, body) {
  switch (body.status) {
    case 'COMPLETE': {
      job.set('COMPLETE', body.media ? `${body.media.width} × ${body.media.height}` : 'media deleted');
      if (body.media) {
        job.actions.replaceChildren(h('button', { type: 'button', class: 'small', onclick: () => openDetail(body.media) }, 'Details'));
        mediaCompleted(body.media);
      }
      break;
    }
    case 'REJECTED':
      job.set('REJECTED', body.reason || 'rejected by moderation');
      break;
    case 'FAILED':
      job.set('FAILED', body.error || 'processing failed');
      break;
    default:
      job.set(body.status);
  }
}

// ---------------------------------------------------------------- gallery

const gallery = { sourceType: '', sourceId: '', items: new Map() };

function setupGallery() {
  const params = new URLSearchParams(location.search);
  if (params.get('sourceId')) $('#gal-id').value = params.get('sourceId');
  $('#gallery-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showGallery($('#gal-type').value, $('#gal-id').value.trim());
  });
}

async function showGallery(sourceType, sourceId) {
  const status = $('#gallery-status');
  const grid = $('#gallery-grid');
  if (!sourceType || !sourceId) return;
  gallery.sourceType = sourceType;
  gallery.sourceId = sourceId;
  const url = new URL(location.href);
  url.searchParams.set('sourceType', sourceType);
  url.searchParams.set('sourceId', sourceId);
  history.replaceState(null, '', url);
  status.textContent = 'Loading…';
  grid.setAttribute('aria-busy', 'true');
  try {
    const q = new URLSearchParams({ sourceType, sourceId });
    const { media } = await getJSON(`/media?${q}`);
    if (gallery.sourceType !== sourceType || gallery.sourceId !== sourceId) return; // changed meanwhile
    gallery.items.clear();
    grid.replaceChildren(...media.map(tile));
    galleryCount();
  } catch (e) {
    grid.replaceChildren();
    status.textContent = `Could not load the gallery: ${e.message}`;
  } finally {
    grid.removeAttribute('aria-busy');
  }
}

function galleryCount() {
  const n = gallery.items.size;
  $('#gallery-status').textContent = n === 0
    ? `No images for ${gallery.sourceType}/${gallery.sourceId} yet.`
    : `${n} image${n === 1 ? '' : 's'} for ${gallery.sourceType}/${gallery.sourceId}`;
}

const TILE_SIZES = '(max-width: 640px) 50vw, 200px'; // the grid's columns

function tile(media) {
  const { frame } = responsiveImage(media, TILE_SIZES);
  const li = h('li', { class: 'tile', 'data-media-id': media.id },
    h('button', { type: 'button', class: 'tile-btn', 'aria-label': `Details of ${media.id}`, onclick: () => openDetail(media) },
      frame,
      h('span', { class: 'caption' }, `${media.width} × ${media.height}`, h('span', { class: 'muted' }, media.aspectRatio))));
  gallery.items.set(media.id, li);
  return li;
}

// mediaCompleted adds a finished upload to the gallery it belongs to, or
// shows that gallery when none is shown yet.
function mediaCompleted(media) {
  if (gallery.items.has(media.id)) return;
  if (media.sourceType === gallery.sourceType && media.sourceId === gallery.sourceId) {
    $('#gallery-grid').prepend(tile(media));
    galleryCount();
  } else if (gallery.items.size === 0) {
    $('#gal-type').value = media.sourceType;
    $('#gal-id').value = media.sourceId;
    showGallery(media.sourceType, media.sourceId);
  }
}

// ---------------------------------------------------------------- detail

let current = null;

function setupDetail() {
  const dlg = $('#detail');
  $('#detail-close').addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); }); // backdrop
  $('#detail-delete').addEventListener('click', deleteCurrent);
}

function row(label, ...value) {
  return [h('dt', {}, label), h('dd', {}, ...value)];
}

function openDetail(media) {
  current = media;
  const dlg = $('#detail');
  $('#detail-title').textContent = media.id;
  $('#detail-status').textContent = '';
  $('#detail-delete').disabled = false;
  const { frame, pick } = responsiveImage(media, '(max-width: 720px) 100vw, 460px', { eager: true });
  if (!pick.cropped) {
    const fp = media.focalPoint || { x: 0.5, y: 0.5 };
    const mark = h('span', { class: 'focal', title: 'Focal point' });
    mark.style.left = `${fp.x * 100}%`;
    mark.style.top = `${fp.y * 100}%`;
    frame.append(mark);
  }
  const fp = media.focalPoint || { x: 0.5, y: 0.5 };
  const md = media.metadata || {};
  const variants = Object.entries(media.variants || {})
    .sort(([, a], [, b]) => a.width - b.width || a.format.localeCompare(b.format));
  $('#detail-body').replaceChildren(
    h('figure', { class: 'detail-fig' }, frame,
      h('figcaption', { class: 'muted' }, pick.cropped ? 'Cropped variants only' : 'The cross marks the focal point')),
    h('div', { class: 'detail-facts' },
      h('dl', { class: 'facts' },
        row('Source', `${media.sourceType} / ${media.sourceId}`),
        row('Dimensions', `${media.width} × ${media.height} px`),
        row('Aspect ratio', media.aspectRatio || '–'),
        row('Focal point', `x ${fp.x.toFixed(2)}, y ${fp.y.toFixed(2)}`),
        row('Format', media.format || '–'),
        row('BlurHash', h('code', { class: 'wrap' }, media.blurhash || '–')),
        row('Original', media.originalUrl ? h('a', { href: media.originalUrl, target: '_blank', rel: 'noopener' }, 'open') : 'not kept'),
        row('Created', media.createdAt ? new Date(media.createdAt).toLocaleString() : '–')),
      h('h3', {}, 'Variants'),
      h('div', { class: 'scroll' }, h('table', { class: 'variants' },
        h('thead', {}, h('tr', {}, ['Name', 'Format', 'Size', 'Bytes'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, variants.map(([name, v]) => h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: v.url, target: '_blank', rel: 'noopener' }, name)),
          h('td', {}, v.format),
          h('td', { class: 'num' }, `${v.width} × ${v.height}`),
          h('td', { class: 'num' }, formatBytes(v.bytes))))))),
      h('h3', {}, 'As uploaded'),
      h('dl', { class: 'facts' },
        row('Format', md.format || '–'),
        row('Bytes', formatBytes(md.bytes)),
        row('Stored size', `${md.width} × ${md.height} px`),
        row('Orientation', String(md.orientation ?? '–')),
        row('Alpha', md.hasAlpha ? 'yes' : 'no'),
        row('Frames', String(md.frames ?? '–')),
        row('Colour space', md.colorSpace || '–'))));
  if (!dlg.open) dlg.showModal();
}

async function deleteCurrent() {
  const media = current;
  if (!media) return;
  if (!confirm(`Delete ${media.id} and all its variants? This cannot be undone.`)) return;
  const btn = $('#detail-delete');
  const status = $('#detail-status');
  btn.disabled = true;
  status.textContent = 'Deleting…';
  try {
    const res = await apiFetch(`/media/${encodeURIComponent(media.id)}`, { method: 'DELETE' });
    if (res.status !== 204 && res.status !== 404) {
      let body = {};
      try { body = await res.json(); } catch { /* not JSON */ }
      throw new Error(body.error || `HTTP ${res.status}`);
    }
  } catch (e) {
    status.textContent = `Could not delete: ${e.message}`;
    btn.disabled = false;
    return;
  }
  $('#detail').close();
  const li = gallery.items.get(media.id);
  if (li) {
    li.remove();
    gallery.items.delete(media.id);
  }
  galleryCount();
  $('#gallery-status').textContent = `Deleted ${media.id}. ` + $('#gallery-status').textContent;
}

// ---------------------------------------------------------------- start

setupKey();
setupUpload();
setupGallery();
setupDetail();
await loadConfig();
showGallery($('#gal-type').value, $('#gal-id').value.trim());
