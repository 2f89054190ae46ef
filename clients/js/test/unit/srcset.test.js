import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageBox, sizes, srcset, srcsetCandidates } from '../../dist/index.js';

const v = (url, width, height, format = 'webp') => ({ url, width, height, format, bytes: 1000 });

// A gallery image with AVIF, as the server answers it.
const gallery = {
  width: 2725, height: 2225,
  variants: {
    md: v('/f/md.webp', 400, 327), lg: v('/f/lg.webp', 800, 653), xl: v('/f/xl.webp', 1200, 980),
    'md.avif': v('/f/md.avif', 400, 327, 'avif'), 'lg.avif': v('/f/lg.avif', 800, 653, 'avif'),
  },
  srcset: { webp: '/f/md.webp 400w, /f/lg.webp 800w, /f/xl.webp 1200w', avif: '/f/md.avif 400w, /f/lg.avif 800w' },
};
// An avatar: crops only, so the srcset holds squares.
const avatar = {
  width: 900, height: 600,
  variants: { xs: v('/f/xs.webp', 64, 64), sm: v('/f/sm.webp', 150, 150) },
  srcset: { webp: '/f/xs.webp 64w, /f/sm.webp 150w' },
};

test('srcset is the server\'s string, per format', () => {
  assert.equal(srcset(gallery), '/f/md.webp 400w, /f/lg.webp 800w, /f/xl.webp 1200w');
  assert.equal(srcset(gallery, 'avif'), '/f/md.avif 400w, /f/lg.avif 800w');
  assert.equal(srcset(avatar, 'avif'), '');
  assert.equal(srcset({}), '');
  assert.equal(srcset(null), '');
});

test('srcsetCandidates parses it, narrowest first', () => {
  assert.deepEqual(srcsetCandidates(gallery), [
    { url: '/f/md.webp', width: 400 }, { url: '/f/lg.webp', width: 800 }, { url: '/f/xl.webp', width: 1200 }]);
  assert.deepEqual(srcsetCandidates({ srcset: { webp: 'https://cdn.example/a/md.webp?v=1 400w' } }),
    [{ url: 'https://cdn.example/a/md.webp?v=1', width: 400 }]);
  assert.deepEqual(srcsetCandidates(avatar, 'avif'), []);
});

test('imageBox is the shape of what the srcset shows', () => {
  assert.deepEqual(imageBox(gallery), { width: 1200, height: 980 });
  assert.deepEqual(imageBox(avatar), { width: 150, height: 150 }, 'crops: their square, not the source\'s 3:2');
  assert.deepEqual(imageBox({ width: 300, height: 200, variants: {}, srcset: {} }), { width: 300, height: 200 });
});

test('sizes', () => {
  assert.equal(sizes(), '100vw');
  assert.equal(sizes({ maxWidth: 800 }), '(max-width: 800px) 100vw, 800px');
  assert.equal(sizes(800), '(max-width: 800px) 100vw, 800px');
  assert.equal(sizes({ maxWidth: 400, vw: 50 }), '(max-width: 800px) 50vw, 400px');
  assert.equal(sizes({ maxWidth: 300, vw: 33 }), '(max-width: 910px) 33vw, 300px');
  assert.equal(sizes({ vw: 50 }), '50vw');
  assert.equal(sizes({ rules: [[1024, '50vw'], [640, '100vw']], maxWidth: 300 }),
    '(max-width: 640px) 100vw, (max-width: 1024px) 50vw, 300px');
  assert.equal(sizes({ rules: [[640, '100vw']], vw: 50 }), '(max-width: 640px) 100vw, 50vw');
  assert.throws(() => sizes({ maxWidth: 0 }), /maxWidth must be a positive number/);
  assert.throws(() => sizes({ maxWidth: NaN }), /maxWidth must be a positive number/);
  assert.throws(() => sizes({ vw: -5 }), /vw must be a positive number/);
});
