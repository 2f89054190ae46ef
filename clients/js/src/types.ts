// The server's JSON, as the README and the contract describe it.

/** A job's state. PENDING and PROCESSING are on the way; the others are final. */
export type JobStatus = 'PENDING' | 'PROCESSING' | 'COMPLETE' | 'REJECTED' | 'FAILED';

/** One stored output: a WebP (or AVIF) file of one variant. */
export interface Variant {
  url: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
}

/** Facts about the source as it was uploaded. */
export interface SourceMetadata {
  format: string;
  bytes: number;
  width: number;
  height: number;
  orientation: number;
  hasAlpha: boolean;
  frames: number;
  colorSpace: string;
}

/** A processed image, as GET {prefix}/media/{id} and a COMPLETE status answer it. */
export interface Media {
  id: string;
  sourceType: string;
  sourceId: string;
  /** Variant name to WebP URL. */
  urls: Record<string, string>;
  /** null when the source type does not keep the original. */
  originalUrl: string | null;
  width: number;
  height: number;
  /** GCD-reduced, "3:2". */
  aspectRatio: string;
  blurhash: string;
  /** ThumbHash placeholder (base64): keeps the aspect ratio and transparency. */
  thumbhash: string;
  /** "#rrggbb", the colour of the largest group of like pixels: a background while anything loads. */
  dominantColor: string;
  /** Of the source: jpeg, png, ... */
  format: string;
  focalPoint: { x: number; y: number };
  /** Variant name to file; AVIF files under "{name}.avif". */
  variants: Record<string, Variant>;
  /** Per format ("webp", "avif"), a ready srcset attribute: "url 400w, url 800w". */
  srcset: Record<string, string>;
  metadata: SourceMetadata;
  moderation?: unknown;
  createdAt: string;
}

/** What GET {prefix}/status/{jobId} answers, and each `status` event of the event stream. */
export interface StatusBody {
  jobId: string;
  status: JobStatus;
  /** COMPLETE: the media, or null when it has been deleted since. */
  media?: Media | null;
  /** REJECTED. */
  reason?: string;
  moderationDetails?: unknown;
  /** FAILED. */
  error?: string;
  code?: string;
  attempts?: number;
}

/** The 202 answer to an upload, with statusUrl made absolute. */
export interface UploadAccepted {
  jobId: string;
  message: string;
  /** Absolute URL of the job's status. */
  statusUrl: string;
}

/**
 * What POST {prefix}/upload-tokens answers (201): an upload token minted by
 * the app's backend with its API key. With `direct` (S3 storage only) it also
 * carries a presigned PUT and the URL that completes the upload.
 */
export interface UploadToken {
  /** "xut_...": sent as `Authorization: Bearer <token>`. */
  token: string;
  expiresAt?: string;
  sourceType?: string;
  sourceId?: string;
  maxFileSize?: number;
  /** Where the multipart upload goes. */
  uploadUrl?: string;
  jobId?: string;
  /** Direct upload: PUT the raw file here with putHeaders... */
  putUrl?: string;
  putHeaders?: Record<string, string>;
  /** ...then POST here with the Bearer token. */
  completeUrl?: string;
}

/** Upload progress: bytes sent of the request body (the file, for a direct upload). */
export interface Progress {
  loaded: number;
  total: number;
  /** loaded / total, 0..1. */
  fraction: number;
}
