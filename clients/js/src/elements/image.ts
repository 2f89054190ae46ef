import { decodeBlurHash, placeholderSize } from '../blurhash.js';
import { getMedia, resolveEndpoint, resolveMediaURLs } from '../client.js';
import { XipError } from '../errors.js';
import { imageBox, srcset, srcsetCandidates } from '../srcset.js';
import type { Media } from '../types.js';
import { dispatch, upgradeProperty } from './util.js';

const STYLE = `
:host { display: block; position: relative; }
:host([hidden]) { display: none; }
.frame { position: relative; width: 100%; overflow: hidden; background: var(--xip-image-background, #e8e8ec); border-radius: inherit; }
canvas, img { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
canvas { transition: opacity .3s ease; }
img { object-fit: cover; opacity: 0; transition: opacity .3s ease; }
.loaded img { opacity: 1; }
.loaded canvas { opacity: 0; }
.failed canvas, .failed img { display: none; }
`;

/**
 * <xip-image>: a processed image, shown at once as its BlurHash, then as
 * the variant that fits through the server's srcset (an AVIF <source> when
 * the media has AVIF variants). Its box keeps the image's aspect ratio from
 * the start, so nothing moves when the image arrives.
 *
 * The media comes from the `media` property (or a `media` attribute holding
 * its JSON), or is fetched from `endpoint` by `media-id`.
 */
export class XipImage extends HTMLElement {
  static observedAttributes = ['media', 'media-id', 'endpoint', 'api-key', 'sizes', 'alt', 'loading'];

  #media: Media | null = null;
  #frame: HTMLDivElement;
  #request = 0;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.#frame = document.createElement('div');
    this.#frame.className = 'frame';
    this.#frame.setAttribute('part', 'frame');
    root.append(style, this.#frame);
  }

  connectedCallback(): void {
    upgradeProperty(this, 'media');
    if (!this.#media && this.hasAttribute('media-id')) this.#fetch();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    switch (name) {
      case 'media':
        if (value) {
          try {
            this.media = JSON.parse(value) as Media;
          } catch {
            this.#fail(new XipError('INVALID_MEDIA', 'The media attribute is not JSON'));
          }
        }
        break;
      case 'media-id':
      case 'endpoint':
      case 'api-key':
        if (this.isConnected && this.hasAttribute('media-id')) this.#fetch();
        else if (name === 'endpoint') this.#render();
        break;
      case 'alt':
        if (this.image) this.image.alt = value ?? '';
        break;
      default:
        this.#render();
    }
  }

  /** The media shown; setting it shows it. */
  get media(): Media | null {
    return this.#media;
  }

  set media(media: Media | null) {
    this.#request++; // a fetch still on its way must not replace it
    this.#media = media && typeof media === 'object' ? media : null;
    this.#render();
  }

  /** The <img> inside, once there is media with variants. */
  get image(): HTMLImageElement | null {
    return this.#frame.querySelector('img');
  }

  async #fetch(): Promise<void> {
    const id = this.getAttribute('media-id');
    if (!id) return;
    const request = ++this.#request;
    const endpoint = this.getAttribute('endpoint') ?? undefined;
    const apiKey = this.getAttribute('api-key') ?? undefined;
    try {
      const media = await getMedia(id, { endpoint, apiKey });
      if (request !== this.#request) return;
      this.#media = media;
      this.#render();
    } catch (e) {
      if (request !== this.#request) return;
      this.#fail(e instanceof XipError ? e : new XipError('NETWORK_ERROR', String(e)));
    }
  }

  #fail(err: XipError): void {
    this.setAttribute('failed', '');
    this.#frame.classList.add('failed');
    dispatch(this, 'xip-error', { code: err.code, error: err.message, status: err.status });
  }

  #render(): void {
    // Paths from the server ("/image-pipeline/files/...") point at it, not at this page.
    const endpoint = this.getAttribute('endpoint');
    let media = this.#media;
    if (media && endpoint) {
      try {
        media = resolveMediaURLs(media, resolveEndpoint(endpoint) + '/');
      } catch {
        /* a bad endpoint: the URLs as they are */
      }
    }
    const frame = this.#frame;
    this.removeAttribute('loaded');
    this.removeAttribute('failed');
    frame.className = 'frame';
    frame.replaceChildren();
    if (!media) {
      frame.style.removeProperty('aspect-ratio');
      frame.style.removeProperty('background-color');
      return;
    }
    const box = imageBox(media);
    frame.style.aspectRatio = `${box.width} / ${box.height}`;
    // The dominant colour shows at once, under the placeholder and in its
    // stead when there is no BlurHash.
    if (/^#[0-9a-f]{6}$/.test(media.dominantColor ?? '')) frame.style.backgroundColor = media.dominantColor;
    else frame.style.removeProperty('background-color');

    const size = placeholderSize(box.width, box.height);
    const canvas = document.createElement('canvas');
    canvas.setAttribute('part', 'placeholder');
    canvas.setAttribute('aria-hidden', 'true');
    canvas.width = size.width;
    canvas.height = size.height;
    try {
      const px = decodeBlurHash(media.blurhash, size.width, size.height);
      canvas.getContext('2d')?.putImageData(new ImageData(px, size.width, size.height), 0, 0);
    } catch {
      canvas.hidden = true; // no hash, or a bad one: the frame's background shows
    }
    frame.append(canvas);

    const webp = srcset(media, 'webp');
    if (!webp) {
      this.#fail(new XipError('NO_VARIANT', 'The media has no variant to show'));
      return;
    }
    const sizes = this.getAttribute('sizes') || '100vw';
    const picture = document.createElement('picture');
    picture.setAttribute('part', 'picture');
    const avif = srcset(media, 'avif');
    if (avif) {
      const source = document.createElement('source');
      source.type = 'image/avif';
      source.srcset = avif;
      source.sizes = sizes;
      picture.append(source);
    }
    const img = document.createElement('img');
    img.setAttribute('part', 'image');
    img.alt = this.getAttribute('alt') ?? '';
    img.width = box.width;
    img.height = box.height;
    img.decoding = 'async';
    img.loading = this.getAttribute('loading') === 'eager' ? 'eager' : 'lazy';
    img.addEventListener('load', () => {
      if (img.naturalWidth === 0) return;
      frame.classList.add('loaded');
      this.setAttribute('loaded', '');
      dispatch(this, 'xip-load', { currentSrc: img.currentSrc, media });
    });
    img.addEventListener('error', () => this.#fail(new XipError('IMAGE_LOAD_FAILED', 'The image could not be loaded')));
    // sizes and srcset before src: the browser picks once.
    img.sizes = sizes;
    img.srcset = webp;
    img.src = srcsetCandidates(media, 'webp')[0]!.url;
    picture.append(img);
    frame.append(picture);
  }
}
