// A BlurHash decoder (https://blurha.sh): the hash carries the DCT-like
// coefficients of a few cosine components; the picture is their sum.

const BASE83 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';
const DIGIT = new Map<string, number>([...BASE83].map((c, i) => [c, i]));

function base83(s: string): number {
  let n = 0;
  for (const c of s) {
    const d = DIGIT.get(c);
    if (d === undefined) throw new Error(`blurhash: invalid character ${JSON.stringify(c)}`);
    n = n * 83 + d;
  }
  return n;
}

function sRGBToLinear(c: number): number {
  const v = c / 255;
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
}

function linearToSRGB(v: number): number {
  const c = Math.min(1, Math.max(0, v));
  return Math.trunc(c <= 0.0031308 ? c * 12.92 * 255 + 0.5 : (1.055 * Math.pow(c, 1 / 2.4) - 0.055) * 255 + 0.5);
}

/** The number of components a hash carries, across and down; throws when the hash is malformed. */
export function blurHashComponents(hash: string): { x: number; y: number } {
  if (typeof hash !== 'string' || hash.length < 6) throw new Error('blurhash: too short');
  const size = base83(hash[0]!);
  const x = (size % 9) + 1;
  const y = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * x * y) {
    throw new Error(`blurhash: length ${hash.length}, want ${4 + 2 * x * y} for ${x}x${y} components`);
  }
  return { x, y };
}

/** Whether hash is a well-formed BlurHash. */
export function isBlurHash(hash: unknown): hash is string {
  try {
    blurHashComponents(hash as string);
    base83(hash as string);
    return true;
  } catch {
    return false;
  }
}

/**
 * decodeBlurHash returns the width x height RGBA pixels (opaque) that a
 * BlurHash stands for; `punch` scales the contrast (1: as encoded). A few
 * dozen pixels across are enough: paint them on a small canvas and let CSS
 * stretch it. Throws on a malformed hash.
 */
export function decodeBlurHash(hash: string, width: number, height: number, punch = 1): Uint8ClampedArray<ArrayBuffer> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error('blurhash: width and height must be positive integers');
  }
  const { x: nx, y: ny } = blurHashComponents(hash);
  const maxAC = ((base83(hash[1]!) + 1) / 166) * punch;

  // Linear-light RGB per component, component k = i + j * nx.
  const coeff = new Float64Array(nx * ny * 3);
  const dc = base83(hash.slice(2, 6));
  coeff[0] = sRGBToLinear(dc >> 16);
  coeff[1] = sRGBToLinear((dc >> 8) & 255);
  coeff[2] = sRGBToLinear(dc & 255);
  const ac = (q: number) => {
    const v = (q - 9) / 9;
    return Math.sign(v) * v * v * maxAC;
  };
  for (let k = 1; k < nx * ny; k++) {
    const v = base83(hash.slice(4 + 2 * k, 6 + 2 * k));
    coeff[3 * k] = ac(Math.floor(v / (19 * 19)));
    coeff[3 * k + 1] = ac(Math.floor(v / 19) % 19);
    coeff[3 * k + 2] = ac(v % 19);
  }

  // Each cosine depends on x or y alone: tabulate them once.
  const cosX = new Float64Array(width * nx);
  for (let x = 0; x < width; x++) {
    for (let i = 0; i < nx; i++) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
  }
  const cosY = new Float64Array(height * ny);
  for (let y = 0; y < height; y++) {
    for (let j = 0; j < ny; j++) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);
  }

  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ny; j++) {
        const cy = cosY[y * ny + j]!;
        for (let i = 0; i < nx; i++) {
          const basis = cosX[x * nx + i]! * cy;
          const k = 3 * (i + j * nx);
          r += coeff[k]! * basis;
          g += coeff[k + 1]! * basis;
          b += coeff[k + 2]! * basis;
        }
      }
      const o = 4 * (y * width + x);
      out[o] = linearToSRGB(r);
      out[o + 1] = linearToSRGB(g);
      out[o + 2] = linearToSRGB(b);
      out[o + 3] = 255;
    }
  }
  return out;
}

/**
 * placeholderSize is the small size to decode a hash at for a picture of
 * the given shape: 32 pixels on the long side.
 */
export function placeholderSize(width: number, height: number, long = 32): { width: number; height: number } {
  const ratio = width > 0 && height > 0 ? width / height : 1;
  if (ratio >= 1) return { width: long, height: Math.max(1, Math.round(long / ratio)) };
  return { width: Math.max(1, Math.round(long * ratio)), height: long };
}
