import type { Media } from './types.js';

/** The formats the server makes: WebP always, AVIF when the source type asks for it. */
export type ImageFormat = 'webp' | 'avif';

/** One candidate of a srcset: a URL and its width in pixels. */
export interface SrcsetCandidate {
  url: string;
  width: number;
}

/**
 * srcset returns the server's ready srcset attribute for a format
 * ("url 400w, url 800w", narrowest first), or "" when the media has no
 * variant of that format. The server chooses the candidates (the variants
 * that keep the image's shape, else the crops); this never recomputes them.
 */
export function srcset(media: Pick<Media, 'srcset'> | null | undefined, format: ImageFormat = 'webp'): string {
  return media?.srcset?.[format] ?? '';
}

/** The candidates of srcset(media, format), narrowest first. */
export function srcsetCandidates(media: Pick<Media, 'srcset'> | null | undefined, format: ImageFormat = 'webp'): SrcsetCandidate[] {
  const out: SrcsetCandidate[] = [];
  for (const part of srcset(media, format).split(/,\s+/)) {
    const m = /^(\S+)\s+(\d+)w$/.exec(part.trim());
    if (m) out.push({ url: m[1]!, width: Number(m[2]) });
  }
  return out;
}

/**
 * imageBox is the width and height of the pictures the srcset offers: the
 * image's own for the variants that keep its shape, the crop's when the
 * srcset holds crops only (an avatar's squares). An element sized to this
 * ratio does not move when the image arrives.
 */
export function imageBox(media: Pick<Media, 'srcset' | 'variants' | 'width' | 'height'>): { width: number; height: number } {
  const widest = srcsetCandidates(media).at(-1);
  if (widest) {
    for (const v of Object.values(media.variants ?? {})) {
      if (v.url === widest.url && v.width > 0 && v.height > 0) return { width: v.width, height: v.height };
    }
  }
  return { width: media.width || 1, height: media.height || 1 };
}

/** Options of sizes(). */
export interface SizesOptions {
  /** The widest the image is ever shown, in CSS pixels. */
  maxWidth?: number;
  /** The share of the viewport's width the image takes below maxWidth, in percent (default 100). */
  vw?: number;
  /**
   * Narrower layouts first: [viewport width up to which it applies, size],
   * e.g. [[640, '100vw'], [1024, '50vw']]. The last size is then maxWidth
   * in pixels, or `${vw}vw` without one.
   */
  rules?: Array<[number, string]>;
}

function positive(n: number, what: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new TypeError(`sizes: ${what} must be a positive number`);
  return n;
}

/**
 * sizes builds a `sizes` attribute, which tells the browser how wide the
 * image will be shown before layout, so that it picks the right srcset
 * candidate for the screen's width and density:
 *
 *     sizes()                               // "100vw"
 *     sizes({ maxWidth: 800 })              // "(max-width: 800px) 100vw, 800px"
 *     sizes(800)                            // the same
 *     sizes({ maxWidth: 400, vw: 50 })      // "(max-width: 800px) 50vw, 400px"
 *     sizes({ rules: [[640, '100vw'], [1024, '50vw']], maxWidth: 300 })
 *                                           // "(max-width: 640px) 100vw, (max-width: 1024px) 50vw, 300px"
 */
export function sizes(options: SizesOptions | number = {}): string {
  const o: SizesOptions = typeof options === 'number' ? { maxWidth: options } : options;
  const vw = o.vw === undefined ? 100 : positive(o.vw, 'vw');
  const max = o.maxWidth === undefined ? undefined : positive(o.maxWidth, 'maxWidth');
  if (o.rules && o.rules.length) {
    const rules = [...o.rules].sort((a, b) => a[0] - b[0]);
    const parts = rules.map(([w, size]) => `(max-width: ${positive(w, 'a rule width')}px) ${size}`);
    parts.push(max === undefined ? `${vw}vw` : `${max}px`);
    return parts.join(', ');
  }
  if (max === undefined) return `${vw}vw`;
  // Below this viewport width, vw% of it is narrower than maxWidth.
  const breakpoint = Math.ceil((max * 100) / vw);
  return `(max-width: ${breakpoint}px) ${vw}vw, ${max}px`;
}
