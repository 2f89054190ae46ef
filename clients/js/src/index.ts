// @ximagepipeline/client: talk to an ximagepipeline server from a browser
// or Node. The web components are in "@ximagepipeline/client/elements".
export { DEFAULT_ENDPOINT, getMedia, getStatus, parseEvent, resolveEndpoint, resolveMediaURLs, upload, waitForProcessing } from './client.js';
export type { AuthOptions, UploadOptions, WaitOptions } from './client.js';
export { CLIENT_CODES, XipError, errorFromAnswer, errorFromStatus, parseRetryAfter } from './errors.js';
export { blurHashComponents, decodeBlurHash, isBlurHash, placeholderSize } from './blurhash.js';
export { imageBox, sizes, srcset, srcsetCandidates } from './srcset.js';
export type { ImageFormat, SizesOptions, SrcsetCandidate } from './srcset.js';
export type { JobStatus, Media, Progress, SourceMetadata, StatusBody, UploadAccepted, UploadToken, Variant } from './types.js';
