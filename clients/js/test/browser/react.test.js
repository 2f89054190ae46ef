// The React example (examples/react), bundled with esbuild, in Chromium
// against the real server: React passes the media to <xip-image> as a
// property and hears <xip-upload>'s events.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newPage, pkgDir, skipOrFail, startStack } from './harness.js';

const skip = skipOrFail();

/** bundle builds the example, with the package's imports pointing at dist/. */
async function bundle() {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [join(pkgDir, 'examples/react/main.jsx')],
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
    plugins: [{
      name: 'this-package',
      setup(b) {
        b.onResolve({ filter: /^@ximagepipeline\/client(\/elements)?$/ }, (a) => ({
          path: join(pkgDir, a.path.endsWith('/elements') ? 'dist/define.js' : 'dist/index.js'),
        }));
      },
    }],
  });
  return out.outputFiles[0].text;
}

describe('React example in Chromium', { skip, timeout: 180_000 }, () => {
  let pipeline;
  let app;
  let browser;
  let files;
  let stack;

  before(async () => {
    const js = await bundle();
    stack = await startStack({ routes: {
        '/react/bundle.js': (req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/javascript' });
          res.end(js);
        },
      } });
    ({ files, app, pipeline, browser } = stack);
  });

  after(() => stack?.stop());

  test('upload, then the media rendered by React through <xip-image>', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/react.html`);
    await page.locator('xip-upload input[type=file]').setInputFiles(files.photo);
    await page.locator('figcaption').waitFor();
    const caption = await page.locator('figcaption').innerText();
    assert.match(caption, /^900 × 600 \(med_\w+\)$/);
    const id = caption.match(/\((med_\w+)\)/)[1];
    await page.waitForFunction(() => document.querySelector('xip-image')?.hasAttribute('loaded'));
    const img = await page.locator('xip-image').evaluate((el) => ({
      mediaId: el.media && el.media.id,
      attr: el.getAttribute('media'),
      sizes: el.getAttribute('sizes'),
      currentSrc: el.shadowRoot.querySelector('img').currentSrc,
      naturalWidth: el.shadowRoot.querySelector('img').naturalWidth,
      avif: el.shadowRoot.querySelector('source').getAttribute('srcset'),
    }));
    assert.equal(img.mediaId, id, 'React set the media property');
    assert.equal(img.attr, null, 'not a stringified attribute');
    assert.equal(img.sizes, '(max-width: 480px) 100vw, 480px');
    assert.ok(img.avif.split(', ').map((c) => c.split(' ')[0]).includes(img.currentSrc), img.currentSrc);
    assert.ok(img.naturalWidth > 0);

    // A refusal reaches React's state through onxip-error.
    await page.locator('xip-upload input[type=file]').setInputFiles(files.text);
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('alert').innerText(), 'File type text/plain not allowed');
    page.checkErrors();
    await page.context().close();
  });
});
