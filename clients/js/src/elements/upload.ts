import { upload, waitForProcessing } from '../client.js';
import { XipError, errorFromAnswer } from '../errors.js';
import type { JobStatus, Media, Progress, UploadToken } from '../types.js';
import { dispatch, upgradeProperty } from './util.js';

/** What <xip-upload> POSTs as JSON to its token-url, and hands to getToken. */
export interface TokenRequest {
  /** The element's source-type and source-id, when set: the backend decides what applies. */
  sourceType?: string;
  sourceId?: string;
  /** The file's size in bytes, MIME type as the browser guessed it (may be ""), and name. */
  size: number;
  contentType: string;
  name: string;
}

/** An item's state: the job's status, or where the upload stands before there is a job. */
export type ItemState = 'QUEUED' | 'AUTHORIZING' | 'UPLOADING' | JobStatus | 'ERROR';

export interface UploadStartDetail {
  file: File;
  sourceType: string | undefined;
  sourceId: string | undefined;
}
export interface ProgressDetail extends Progress {
  file: File;
}
export interface StatusDetail {
  file: File;
  jobId: string;
  status: JobStatus;
}
export interface CompleteDetail {
  file: File;
  jobId: string;
  media: Media;
}
export interface ErrorDetail {
  file: File;
  /** Set once the server had accepted the upload. */
  jobId: string | undefined;
  /** The server's code (FILE_TYPE_NOT_ALLOWED, TOKEN_EXPIRED, REJECTED, ...) or the client's. */
  code: string;
  /** The server's exact message. */
  error: string;
  /** The HTTP status; 0 without an answer. */
  status: number;
}

const LABEL: Record<ItemState, string> = {
  QUEUED: 'Queued',
  AUTHORIZING: 'Authorizing',
  UPLOADING: 'Uploading',
  PENDING: 'Waiting to be processed',
  PROCESSING: 'Processing',
  COMPLETE: 'Done',
  REJECTED: 'Rejected',
  FAILED: 'Failed',
  ERROR: 'Refused',
};

const STYLE = `
:host { display: block; font: inherit; color: inherit; }
:host([hidden]) { display: none; }
.zone {
  position: relative; display: block; box-sizing: border-box; padding: 1.5em 1em; text-align: center; cursor: pointer;
  border: 2px dashed var(--xip-upload-border, #9aa0a6); border-radius: var(--xip-upload-radius, 8px);
  background: var(--xip-upload-background, transparent);
}
.zone.over { border-color: var(--xip-upload-accent, #2563eb); background: var(--xip-upload-over-background, rgba(37, 99, 235, .08)); }
.zone:focus-within { outline: 2px solid var(--xip-upload-accent, #2563eb); outline-offset: 2px; }
:host([disabled]) .zone { opacity: .5; cursor: not-allowed; }
input { position: absolute; width: 1px; height: 1px; opacity: 0; overflow: hidden; }
label { display: block; cursor: inherit; }
.browse { color: var(--xip-upload-accent, #2563eb); text-decoration: underline; }
ul { list-style: none; margin: .75em 0 0; padding: 0; display: grid; gap: .5em; }
ul:empty { display: none; }
li { display: grid; grid-template-columns: 1fr auto; gap: .25em .75em; align-items: center; }
.name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status { font-size: .875em; opacity: .8; }
progress { grid-column: 1 / -1; width: 100%; accent-color: var(--xip-upload-accent, #2563eb); }
.message { grid-column: 1 / -1; font-size: .875em; color: var(--xip-upload-error, #b91c1c); }
.message:empty { display: none; }
`;

/** How many files go up at once. */
const PARALLEL = 3;

/**
 * <xip-upload>: a drop zone (and file chooser) that uploads each file, shows
 * its progress and then its job's status live, and fires events on the way.
 * Authorization: `token-url` (the app's backend mints an upload token per
 * file: see TokenRequest and the README), a `getToken` function property,
 * or `api-key` on trusted pages only.
 */
export class XipUpload extends HTMLElement {
  static observedAttributes = ['accept', 'multiple', 'disabled'];

  #getToken: ((request: TokenRequest) => Promise<UploadToken | string>) | null = null;
  #input: HTMLInputElement;
  #zone: HTMLElement;
  #list: HTMLUListElement;
  #running = 0;
  #waiting: Array<() => Promise<void>> = [];

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>
<div class="zone" part="dropzone">
  <input type="file" id="input" part="input" accept="image/*">
  <label for="input" part="label"><slot>Drop images here or <span class="browse">choose files</span></slot></label>
</div>
<ul part="list" aria-live="polite"></ul>`;
    this.#zone = root.querySelector('.zone')!;
    this.#input = root.querySelector('input')!;
    this.#list = root.querySelector('ul')!;

    this.#input.addEventListener('change', () => {
      const files = [...(this.#input.files ?? [])];
      this.#input.value = '';
      this.upload(files);
    });
    for (const type of ['dragenter', 'dragover']) {
      this.#zone.addEventListener(type, (e) => {
        e.preventDefault();
        if (this.hasAttribute('disabled')) return;
        const dt = (e as DragEvent).dataTransfer;
        if (dt) dt.dropEffect = 'copy';
        this.#zone.classList.add('over');
      });
    }
    for (const type of ['dragleave', 'dragend']) this.#zone.addEventListener(type, () => this.#zone.classList.remove('over'));
    this.#zone.addEventListener('drop', (e) => {
      e.preventDefault();
      this.#zone.classList.remove('over');
      if (this.hasAttribute('disabled')) return;
      const files = [...((e as DragEvent).dataTransfer?.files ?? [])];
      this.upload(this.hasAttribute('multiple') ? files : files.slice(0, 1));
    });
  }

  connectedCallback(): void {
    upgradeProperty(this, 'getToken');
  }

  attributeChangedCallback(name: string, _old: string | null, value: string | null): void {
    if (name === 'accept') this.#input.accept = value ?? 'image/*';
    else if (name === 'multiple') this.#input.multiple = value !== null;
    else if (name === 'disabled') this.#input.disabled = value !== null;
  }

  /**
   * When set, called for each file instead of POSTing to token-url: resolves
   * with the token answer (or a token string) from the app's backend.
   */
  get getToken(): ((request: TokenRequest) => Promise<UploadToken | string>) | null {
    return this.#getToken;
  }

  set getToken(fn: ((request: TokenRequest) => Promise<UploadToken | string>) | null) {
    this.#getToken = typeof fn === 'function' ? fn : null;
  }

  /** The file input inside, for tests and custom triggers (input.click()). */
  get input(): HTMLInputElement {
    return this.#input;
  }

  /**
   * upload sends files as if they had been dropped: a few at a time, each
   * with its own row. It resolves when all have ended, well or not (the
   * events and rows tell which).
   */
  upload(files: Iterable<File>): Promise<void> {
    const all: Promise<void>[] = [];
    for (const file of files) {
      all.push(new Promise<void>((resolve) => {
        const row = this.#row(file);
        this.#waiting.push(() => this.#send(file, row).finally(resolve));
      }));
    }
    this.#pump();
    return Promise.all(all).then(() => undefined);
  }

  #pump(): void {
    while (this.#running < PARALLEL && this.#waiting.length) {
      this.#running++;
      this.toggleAttribute('busy', true);
      this.#waiting.shift()!().finally(() => {
        this.#running--;
        if (this.#running === 0 && this.#waiting.length === 0) this.removeAttribute('busy');
        this.#pump();
      });
    }
  }

  #row(file: File): Row {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.setAttribute('part', 'name');
    name.textContent = file.name;
    name.title = file.name;
    const status = document.createElement('span');
    status.className = 'status';
    status.setAttribute('part', 'status');
    const progress = document.createElement('progress');
    progress.setAttribute('part', 'progress');
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute('aria-label', `Upload of ${file.name}`);
    const message = document.createElement('span');
    message.className = 'message';
    message.setAttribute('part', 'message');
    message.setAttribute('role', 'status');
    li.append(name, status, progress, message);
    this.#list.prepend(li);
    const row: Row = {
      li,
      set(state, text = LABEL[state], msg = '') {
        li.dataset.status = state;
        li.setAttribute('part', `item item-${state.toLowerCase()}`);
        status.textContent = text;
        message.textContent = msg;
      },
      progress(fraction) {
        progress.value = Math.round(fraction * 100);
      },
    };
    row.set('QUEUED');
    return row;
  }

  async #send(file: File, row: Row): Promise<void> {
    const sourceType = this.getAttribute('source-type') ?? undefined;
    const sourceId = this.getAttribute('source-id') ?? undefined;
    if (!dispatch<UploadStartDetail>(this, 'xip-upload-start', { file, sourceType, sourceId }, true)) {
      row.li.remove(); // a listener said no
      return;
    }
    const endpoint = this.getAttribute('endpoint') ?? undefined;
    const apiKey = this.getAttribute('api-key') ?? undefined;
    let jobId: string | undefined;
    try {
      let token: UploadToken | string | undefined;
      if (this.#getToken || this.hasAttribute('token-url')) {
        row.set('AUTHORIZING');
        token = await this.#token({ sourceType, sourceId, size: file.size, contentType: file.type, name: file.name });
      }
      row.set('UPLOADING', `${LABEL.UPLOADING} 0%`);
      const job = await upload(file, {
        endpoint, apiKey, token, sourceType, sourceId,
        onProgress: (p) => {
          row.progress(p.fraction);
          row.set('UPLOADING', `${LABEL.UPLOADING} ${Math.round(p.fraction * 100)}%`);
          dispatch<ProgressDetail>(this, 'xip-progress', { file, ...p });
        },
      });
      const accepted = job.jobId;
      jobId = accepted;
      row.li.dataset.jobId = accepted;
      row.progress(1);
      // Accepted: the job is PENDING. Then each change the server reports.
      let last: JobStatus | '' = '';
      const status = (s: JobStatus) => {
        if (s === last) return;
        last = s;
        row.set(s);
        dispatch<StatusDetail>(this, 'xip-status', { file, jobId: accepted, status: s });
      };
      status('PENDING');
      const media = await waitForProcessing(job, { endpoint, apiKey, token, onStatus: (s) => status(s.status) });
      row.li.dataset.mediaId = media.id;
      row.set('COMPLETE');
      dispatch<CompleteDetail>(this, 'xip-complete', { file, jobId, media });
    } catch (e) {
      const err = e instanceof XipError ? e : new XipError('NETWORK_ERROR', e instanceof Error ? e.message : String(e));
      const state: ItemState = err.code === 'REJECTED' ? 'REJECTED' : jobId && err.status >= 500 ? 'FAILED' : 'ERROR';
      if (!jobId) row.progress(0);
      row.set(state, LABEL[state], err.message);
      dispatch<ErrorDetail>(this, 'xip-error', { file, jobId, code: err.code, error: err.message, status: err.status });
    }
  }

  /** #token asks the app's backend for an upload token (see TokenRequest). */
  async #token(request: TokenRequest): Promise<UploadToken | string> {
    if (this.#getToken) return this.#getToken(request);
    const url = this.getAttribute('token-url')!;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(request),
      });
    } catch {
      throw new XipError('NETWORK_ERROR', 'The token URL could not be reached');
    }
    const text = await res.text();
    if (!res.ok) throw errorFromAnswer(res.status, text, res.headers.get('Retry-After'));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!body || typeof (body as UploadToken).token !== 'string') {
      throw new XipError('TOKEN_REQUEST_FAILED', 'The token URL answered no token', { status: res.status, body: text });
    }
    return body as UploadToken;
  }
}

interface Row {
  li: HTMLLIElement;
  set(state: ItemState, text?: string, message?: string): void;
  progress(fraction: number): void;
}
