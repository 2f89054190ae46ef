import type { StatusBody } from './types.js';

/**
 * XipError is every failure this package reports: the server's refusals
 * with its exact `error` text (the message) and `code`, a job that ended
 * REJECTED or FAILED, and the client's own failures, whose codes are
 * listed in CLIENT_CODES.
 */
export class XipError extends Error {
  /** The server's machine code (FILE_TYPE_NOT_ALLOWED, TOKEN_EXPIRED, ...) or one of CLIENT_CODES. */
  readonly code: string;
  /** The HTTP status of the answer; 0 when there was none (network, abort). */
  readonly status: number;
  /** Seconds the server asked to wait (503 BUSY, 429 RATE_LIMITED). */
  readonly retryAfter: number | undefined;
  /** The parsed answer, when there was one. */
  readonly body: unknown;

  constructor(code: string, message: string, init: { status?: number; retryAfter?: number; body?: unknown } = {}) {
    super(message);
    this.name = 'XipError';
    this.code = code;
    this.status = init.status ?? 0;
    this.retryAfter = init.retryAfter;
    this.body = init.body;
  }

  /** The server's `error` text: the same as message. */
  get error(): string {
    return this.message;
  }

  toJSON(): { code: string; error: string; status: number } {
    return { code: this.code, error: this.message, status: this.status };
  }
}

/**
 * The codes this package makes itself. Every other code is the server's,
 * except HTTP_{status} (HTTP_502...): an answer that is not the API's JSON,
 * such as a proxy's error page.
 */
export const CLIENT_CODES = {
  /** The request never got an answer. */
  NETWORK_ERROR: 'NETWORK_ERROR',
  /** The caller's AbortSignal ended it. */
  ABORTED: 'ABORTED',
  /** The job ended REJECTED by moderation (the message is its reason). */
  REJECTED: 'REJECTED',
  /** The job ended FAILED without a code of its own. */
  FAILED: 'FAILED',
  /** The job is COMPLETE but its media has been deleted since. */
  MEDIA_NOT_FOUND: 'MEDIA_NOT_FOUND',
  /** The presigned PUT of a direct upload was refused by the storage. */
  STORAGE_PUT_FAILED: 'STORAGE_PUT_FAILED',
  /** The app's token URL answered no token. */
  TOKEN_REQUEST_FAILED: 'TOKEN_REQUEST_FAILED',
  /** No usable endpoint (outside a browser it must be absolute). */
  INVALID_ENDPOINT: 'INVALID_ENDPOINT',
} as const;

/** Parses a Retry-After header given in seconds. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * errorFromAnswer maps a refusal to an XipError: the API's JSON
 * `{"error", "code"}` keeps the server's text and code; anything else
 * (HTML from a proxy, an empty body) becomes code `HTTP_{status}`.
 */
export function errorFromAnswer(status: number, text: string, retryAfter?: string | null): XipError {
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const wait = parseRetryAfter(retryAfter);
  if (body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') {
    const b = body as { error: string; code?: unknown };
    const code = typeof b.code === 'string' && b.code ? b.code : `HTTP_${status}`;
    return new XipError(code, b.error, { status, retryAfter: wait, body });
  }
  return new XipError(`HTTP_${status}`, `HTTP ${status}`, { status, retryAfter: wait, body: body ?? text });
}

/** The error a final REJECTED or FAILED status stands for. */
export function errorFromStatus(body: StatusBody, httpStatus = 0): XipError {
  if (body.status === 'REJECTED') {
    return new XipError('REJECTED', body.reason || 'Rejected by moderation', { status: httpStatus || 400, body });
  }
  return new XipError(body.code || 'FAILED', body.error || 'Processing failed', { status: httpStatus || 500, body });
}
