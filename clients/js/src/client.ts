import { XipError, errorFromAnswer, errorFromStatus } from './errors.js';
import type { Media, Progress, StatusBody, UploadAccepted, UploadToken } from './types.js';

/** The API's default URL prefix. */
export const DEFAULT_ENDPOINT = '/image-pipeline';

/** Who the requests come from: an API key (trusted pages, servers) or an upload token. */
export interface AuthOptions {
  /**
   * The server's base URL with its prefix, e.g. "https://img.example/image-pipeline".
   * Default "/image-pipeline" on the page's own origin; outside a browser it must be absolute.
   */
  endpoint?: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * An upload token: the "xut_..." string, or the whole answer of
   * POST {prefix}/upload-tokens. Sent as `Authorization: Bearer <token>`.
   */
  token?: string | UploadToken;
  /** Ends the request (and the wait): the promise rejects with code ABORTED. */
  signal?: AbortSignal;
}

export interface UploadOptions extends AuthOptions {
  /** Required unless the token carries them. */
  sourceType?: string;
  sourceId?: string;
  /** Called as the body goes out (XMLHttpRequest upload events in a browser; once at the end elsewhere). */
  onProgress?: (progress: Progress) => void;
  /** The file name sent with a Blob that has none (default "upload"). */
  fileName?: string;
  /** How many times to retry a 503 BUSY or 429 RATE_LIMITED after its Retry-After (default 2). */
  retries?: number;
}

export interface WaitOptions extends AuthOptions {
  /** "events": the SSE stream (default), falling back to long polls when it breaks; "poll": long polls only. */
  via?: 'events' | 'poll';
  /** Called with each new status (PENDING, PROCESSING, then the final one). */
  onStatus?: (status: StatusBody) => void;
  /** How long one long poll waits on the server, in seconds (default 30; the server caps it at 60). */
  pollSeconds?: number;
}

// ------------------------------------------------------------------ URLs

function pageURL(): string | undefined {
  const g = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return g.document?.baseURI ?? g.location?.href;
}

/** resolveEndpoint makes an endpoint absolute (against the page), without a trailing slash. */
export function resolveEndpoint(endpoint: string = DEFAULT_ENDPOINT): string {
  try {
    return new URL(endpoint, pageURL()).href.replace(/\/+$/, '');
  } catch {
    throw new XipError('INVALID_ENDPOINT', `Invalid endpoint ${JSON.stringify(endpoint)}: outside a browser it must be an absolute URL`);
  }
}

/** A URL the server answered (a path, usually), made absolute against the URL it came from. */
function resolveAgainst(url: string, base: string): string {
  return new URL(url, base).href;
}

/** A URL from a token or an answer: absolute as it is, else against the endpoint. */
function fromEndpoint(url: string, endpoint: string | undefined): string {
  try {
    return new URL(url).href;
  } catch {
    return resolveAgainst(url, resolveEndpoint(endpoint) + '/');
  }
}

function bearer(o: AuthOptions): Record<string, string> {
  const t = typeof o.token === 'string' ? o.token : o.token?.token;
  const key = t || o.apiKey;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * resolveMediaURLs makes a media's URLs absolute against the URL it was
 * fetched from. The server answers paths ("/image-pipeline/files/...")
 * unless it runs with --public-url; on a page of another origin those must
 * point at the server, not at the page. Absolute URLs stay as they are, and
 * each srcset keeps its candidates: only their URLs are resolved.
 */
export function resolveMediaURLs<M extends Media | null | undefined>(media: M, base: string): M {
  if (!media || typeof media !== 'object') return media;
  const abs = (u: string) => {
    try {
      return new URL(u, base).href;
    } catch {
      return u;
    }
  };
  const m: Media = { ...media };
  if (m.urls) m.urls = Object.fromEntries(Object.entries(m.urls).map(([k, u]) => [k, abs(u)]));
  if (typeof m.originalUrl === 'string') m.originalUrl = abs(m.originalUrl);
  if (m.variants) m.variants = Object.fromEntries(Object.entries(m.variants).map(([k, v]) => [k, { ...v, url: abs(v.url) }]));
  if (m.srcset) {
    m.srcset = Object.fromEntries(Object.entries(m.srcset).map(([f, set]) => [f,
      set.split(/,\s+/).map((c) => c.replace(/^\S+/, (u) => abs(u))).join(', ')]));
  }
  return m as M;
}

// ------------------------------------------------------------- transport

interface Answer {
  status: number;
  text: string;
  header(name: string): string | null;
}

interface SendInit {
  headers?: Record<string, string>;
  body?: Blob | FormData | string | null;
  onProgress?: ((p: Progress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

const aborted = () => new XipError('ABORTED', 'The request was aborted');
const networkError = () => new XipError('NETWORK_ERROR', 'The server could not be reached');

/**
 * send makes one request. In a browser it uses XMLHttpRequest, whose
 * upload events give the progress that fetch does not; elsewhere fetch.
 */
function send(method: string, url: string, init: SendInit = {}): Promise<Answer> {
  if (init.signal?.aborted) return Promise.reject(aborted());
  if (typeof XMLHttpRequest !== 'undefined') return sendXHR(method, url, init);
  return sendFetch(method, url, init);
}

function sendXHR(method: string, url: string, init: SendInit): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(init.headers ?? {})) xhr.setRequestHeader(k, v);
    const onProgress = init.onProgress;
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable && e.total > 0) onProgress({ loaded: e.loaded, total: e.total, fraction: e.loaded / e.total });
      });
    }
    const abort = () => xhr.abort();
    init.signal?.addEventListener('abort', abort, { once: true });
    const done = () => init.signal?.removeEventListener('abort', abort);
    xhr.addEventListener('load', () => {
      done();
      resolve({ status: xhr.status, text: xhr.responseText, header: (n) => xhr.getResponseHeader(n) });
    });
    xhr.addEventListener('error', () => {
      done();
      reject(networkError());
    });
    xhr.addEventListener('abort', () => {
      done();
      reject(aborted());
    });
    xhr.send(init.body ?? null);
  });
}

async function sendFetch(method: string, url: string, init: SendInit): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: init.headers ?? {},
      body: init.body ?? null,
      signal: init.signal ?? null,
    });
  } catch (e) {
    throw init.signal?.aborted ? aborted() : networkError();
  }
  const text = await res.text();
  if (init.onProgress) {
    const total = init.body instanceof Blob ? init.body.size : 1;
    init.onProgress({ loaded: total, total, fraction: 1 });
  }
  return { status: res.status, text, header: (n) => res.headers.get(n) };
}

function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, seconds * 1000);
    const stop = () => {
      clearTimeout(t);
      reject(aborted());
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/** sendRetrying retries 503 BUSY and 429 RATE_LIMITED after their Retry-After. */
async function sendRetrying(method: string, url: string, init: () => SendInit, retries: number, signal?: AbortSignal): Promise<Answer> {
  for (let attempt = 0; ; attempt++) {
    const a = await send(method, url, init());
    if ((a.status === 503 || a.status === 429) && attempt < retries) {
      const wait = Number(a.header('Retry-After'));
      await sleep(Math.min(Number.isFinite(wait) && wait >= 0 ? wait : 1, 30), signal);
      continue;
    }
    return a;
  }
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** accepted reads a 202 answer to an upload, or throws its refusal. */
function accepted(a: Answer, url: string): UploadAccepted {
  const body = json(a.text) as Partial<UploadAccepted> | undefined;
  if (a.status === 202 && body && typeof body.jobId === 'string') {
    return {
      jobId: body.jobId,
      message: body.message ?? '',
      statusUrl: resolveAgainst(body.statusUrl ?? `status/${encodeURIComponent(body.jobId)}`, url),
    };
  }
  throw errorFromAnswer(a.status, a.text, a.header('Retry-After'));
}

// ---------------------------------------------------------------- upload

/**
 * upload sends a file and resolves with the job the server queued (202):
 * `{jobId, message, statusUrl}`. Refusals reject with an XipError carrying
 * the server's exact text and code.
 *
 * - With `apiKey`, or a `token` string: a multipart POST to {endpoint}/upload.
 * - With `token` as the whole token answer: a multipart POST to its
 *   uploadUrl, or, when it has a putUrl (a direct upload), a PUT of the raw
 *   file to storage, then a POST to its completeUrl.
 *
 * sourceType and sourceId may be left out with a token: the token's own apply.
 */
export async function upload(file: Blob, options: UploadOptions = {}): Promise<UploadAccepted> {
  const { token, signal, onProgress } = options;
  const retries = options.retries ?? 2;
  if (token && typeof token === 'object' && token.putUrl) return directUpload(file, token, options);

  const url = token && typeof token === 'object' && token.uploadUrl
    ? fromEndpoint(token.uploadUrl, options.endpoint)
    : resolveEndpoint(options.endpoint) + '/upload';
  const name = (file as Partial<File>).name || options.fileName || 'upload';
  const form = () => {
    // The fields first: the server refuses a bad one before reading the file.
    const f = new FormData();
    if (options.sourceType != null) f.append('sourceType', options.sourceType);
    if (options.sourceId != null) f.append('sourceId', options.sourceId);
    f.append('file', file, name);
    return f;
  };
  const a = await sendRetrying('POST', url, () => ({ headers: bearer(options), body: form(), onProgress, signal }), retries, signal);
  return accepted(a, url);
}

async function directUpload(file: Blob, token: UploadToken, options: UploadOptions): Promise<UploadAccepted> {
  const { signal, onProgress } = options;
  const put = await send('PUT', fromEndpoint(token.putUrl!, options.endpoint), {
    headers: token.putHeaders ?? {},
    body: file,
    onProgress,
    signal,
  });
  if (put.status < 200 || put.status > 299) {
    const s3 = /<Code>([^<]+)<\/Code>/.exec(put.text)?.[1];
    throw new XipError('STORAGE_PUT_FAILED', `Upload to storage failed (HTTP ${put.status}${s3 ? ` ${s3}` : ''})`, {
      status: put.status,
      body: put.text,
    });
  }
  if (!token.completeUrl) throw new XipError('TOKEN_INVALID', 'The upload token has a putUrl but no completeUrl');
  const url = fromEndpoint(token.completeUrl, options.endpoint);
  const a = await sendRetrying('POST', url, () => ({ headers: bearer({ token }), signal }), options.retries ?? 2, signal);
  return accepted(a, url);
}

// ---------------------------------------------------------------- status

const FINAL = new Set(['COMPLETE', 'REJECTED', 'FAILED']);
const STATES = new Set(['PENDING', 'PROCESSING', 'COMPLETE', 'REJECTED', 'FAILED']);

/** The job's status URL and the API's base URL. */
function jobURLs(job: string | Pick<UploadAccepted, 'jobId' | 'statusUrl'>, options: AuthOptions): { jobId: string; status: string; events: string } {
  if (typeof job === 'object' && job.statusUrl) {
    const status = fromEndpoint(job.statusUrl, options.endpoint);
    const suffix = `/status/${encodeURIComponent(job.jobId)}`;
    const u = new URL(status);
    const events = u.pathname.endsWith(suffix)
      ? `${u.origin}${u.pathname.slice(0, -suffix.length)}/events/${encodeURIComponent(job.jobId)}`
      : `${resolveEndpoint(options.endpoint)}/events/${encodeURIComponent(job.jobId)}`;
    return { jobId: job.jobId, status, events };
  }
  const jobId = typeof job === 'string' ? job : job.jobId;
  const base = resolveEndpoint(options.endpoint);
  return {
    jobId,
    status: `${base}/status/${encodeURIComponent(jobId)}`,
    events: `${base}/events/${encodeURIComponent(jobId)}`,
  };
}

function asStatus(body: unknown): StatusBody | undefined {
  const b = body as Partial<StatusBody> | undefined;
  return b && typeof b === 'object' && typeof b.status === 'string' && STATES.has(b.status) ? (b as StatusBody) : undefined;
}

/**
 * getStatus asks for a job's status once; `wait` (seconds) long-polls: the
 * server answers when the job finishes, or when the wait ends. REJECTED
 * and FAILED resolve too (they are statuses, not refusals); an unknown job
 * rejects with JOB_NOT_FOUND.
 */
export async function getStatus(job: string | Pick<UploadAccepted, 'jobId' | 'statusUrl'>, options: AuthOptions & { wait?: number } = {}): Promise<StatusBody> {
  const urls = jobURLs(job, options);
  const url = options.wait ? `${urls.status}?wait=${Math.round(options.wait)}s` : urls.status;
  const a = await sendFetch('GET', url, { headers: { ...bearer(options), Accept: 'application/json' }, signal: options.signal });
  const status = asStatus(json(a.text));
  if (status) return withURLs(status, url);
  throw errorFromAnswer(a.status, a.text, a.header('Retry-After'));
}

function withURLs(s: StatusBody, base: string): StatusBody {
  return s.media ? { ...s, media: resolveMediaURLs(s.media, base) } : s;
}

/**
 * waitForProcessing follows a job until it ends and resolves with its
 * media. A job that ends REJECTED rejects with code REJECTED (the message
 * is the reason), one that ends FAILED with its code (or FAILED) and error.
 * `job` is a job id or upload()'s answer (whose statusUrl then tells where
 * the server is).
 */
export async function waitForProcessing(job: string | Pick<UploadAccepted, 'jobId' | 'statusUrl'>, options: WaitOptions = {}): Promise<Media> {
  const urls = jobURLs(job, options);
  let last = '';
  const seen = (s: StatusBody) => {
    if (s.status !== last) {
      last = s.status;
      options.onStatus?.(s);
    }
  };
  const finish = (s: StatusBody): Media => {
    if (s.status === 'COMPLETE') {
      if (s.media) return s.media;
      throw new XipError('MEDIA_NOT_FOUND', 'Media not found', { status: 200, body: s });
    }
    throw errorFromStatus(s);
  };

  if (options.via !== 'poll' && typeof ReadableStream !== 'undefined') {
    const final = await followEvents(urls.events, options, seen);
    if (final) return finish(final);
    // The stream could not be had, or broke before the end: long polls say the rest.
  }
  let failures = 0;
  for (;;) {
    let s: StatusBody;
    try {
      s = await getStatus(job, { ...options, wait: options.pollSeconds ?? 30 });
      failures = 0;
    } catch (e) {
      if (e instanceof XipError && e.code === 'NETWORK_ERROR' && ++failures < 5) {
        await sleep(failures, options.signal);
        continue;
      }
      throw e;
    }
    seen(s);
    if (FINAL.has(s.status)) return finish(s);
  }
}

/**
 * followEvents reads the job's Server-Sent Events with fetch (which, unlike
 * EventSource, sends the Authorization header) and returns the final
 * status, or null when the stream ended or failed before it.
 */
async function followEvents(url: string, options: WaitOptions, seen: (s: StatusBody) => void): Promise<StatusBody | null> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { ...bearer(options), Accept: 'text/event-stream' }, cache: 'no-store', signal: options.signal ?? null });
  } catch {
    if (options.signal?.aborted) throw aborted();
    return null;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return null;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buf += value;
      let end: RegExpExecArray | null;
      while ((end = /\r?\n\r?\n/.exec(buf))) {
        const block = buf.slice(0, end.index);
        buf = buf.slice(end.index + end[0].length);
        const ev = parseEvent(block);
        if (ev.event !== 'status') continue;
        const body = asStatus(json(ev.data));
        if (!body) continue;
        const s = withURLs(body, url);
        seen(s);
        if (FINAL.has(s.status)) return s;
      }
    }
  } catch {
    if (options.signal?.aborted) throw aborted();
    return null;
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** parseEvent reads one SSE event block: its event name and its data lines joined. */
export function parseEvent(block: string): { event: string; data: string } {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n') };
}

// ----------------------------------------------------------------- media

/** getMedia fetches GET {endpoint}/media/{id}; an unknown id rejects with MEDIA_NOT_FOUND. */
export async function getMedia(mediaId: string, options: AuthOptions = {}): Promise<Media> {
  const url = `${resolveEndpoint(options.endpoint)}/media/${encodeURIComponent(mediaId)}`;
  const a = await sendFetch('GET', url, { headers: { ...bearer(options), Accept: 'application/json' }, signal: options.signal });
  const body = json(a.text) as Media | undefined;
  if (a.status === 200 && body && typeof body.id === 'string') return resolveMediaURLs(body, url);
  throw errorFromAnswer(a.status, a.text, a.header('Retry-After'));
}
