// <xip-upload> and <xip-image> in headless Chromium against the real
// server: upload through the file chooser and by drop, progress and live
// status to COMPLETE, the media event, the placeholder then the variant, and
// the server's exact refusals.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveMediaURLs } from '../../dist/index.js';
import { API_KEY, newPage, skipOrFail, startStack } from './harness.js';

const skip = skipOrFail();

describe('web components in Chromium', { skip, timeout: 180_000 }, () => {
  let pipeline;
  let app;
  let browser;
  let files;
  let stack;

  before(async () => {
    stack = await startStack({ routes: {
        // The app's token endpoint refusing: the element shows the backend's text.
        '/api/no-token': (req, res) => {
          res.writeHead(403, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: 'Sign in to upload', code: 'NOT_SIGNED_IN' }));
        },
      } });
    ({ files, app, pipeline, browser } = stack);
  });

  after(() => stack?.stop());

  /** The <img>, <source> and placeholder of an <xip-image>, as the page sees them. */
  const imageState = (page, selector) => page.locator(selector).evaluate((el) => {
    const root = el.shadowRoot;
    const frame = root.querySelector('[part=frame]');
    const img = root.querySelector('img');
    const source = root.querySelector('source');
    const canvas = root.querySelector('canvas');
    let opaque = 0;
    if (canvas && !canvas.hidden) {
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] === 255) opaque++;
    }
    const box = frame.getBoundingClientRect();
    return {
      loaded: el.hasAttribute('loaded'),
      failed: el.hasAttribute('failed'),
      frame: { width: box.width, height: box.height },
      background: getComputedStyle(frame).backgroundColor,
      canvas: canvas && { width: canvas.width, height: canvas.height, opaque, shown: getComputedStyle(canvas).display !== 'none' && !canvas.hidden },
      img: img && {
        currentSrc: img.currentSrc, naturalWidth: img.naturalWidth, srcset: img.getAttribute('srcset'),
        sizes: img.getAttribute('sizes'), loading: img.loading, alt: img.alt, complete: img.complete,
      },
      source: source && { type: source.type, srcset: source.getAttribute('srcset'), sizes: source.getAttribute('sizes') },
    };
  });

  const urls = (srcset) => srcset.split(', ').map((c) => c.split(' ')[0]);

  test('upload through the file chooser: progress, live status, the media, then <xip-image>', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/plain.html`);
    await page.locator('xip-upload input[type=file]').setInputFiles(files.photo);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-complete' || e.type === 'xip-error'));

    const events = await page.evaluate(() => window.events);
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'xip-upload-start');
    assert.deepEqual(events[0].detail, { file: 'photo.png', sourceType: 'photo', sourceId: 'plain' });
    assert.ok(!types.includes('xip-error'), `errors: ${JSON.stringify(events.filter((e) => e.type === 'xip-error'))}`);
    const progress = events.filter((e) => e.type === 'xip-progress').map((e) => e.detail);
    assert.ok(progress.length >= 1, 'progress events');
    const lastProgress = progress.at(-1);
    assert.equal(lastProgress.fraction, 1);
    assert.equal(lastProgress.loaded, lastProgress.total);
    assert.ok(lastProgress.total > 0 && progress.every((p, i) => i === 0 || p.loaded >= progress[i - 1].loaded));
    const statuses = events.filter((e) => e.type === 'xip-status').map((e) => e.detail.status);
    assert.equal(statuses.at(-1), 'COMPLETE');
    assert.equal(statuses[0], 'PENDING', 'accepted: PENDING');
    assert.ok(statuses.slice(0, -1).every((s) => s === 'PENDING' || s === 'PROCESSING'), `statuses ${statuses}`);
    assert.equal(new Set(statuses).size, statuses.length, `each status once: ${statuses}`);
    assert.ok(types.indexOf('xip-progress') < types.indexOf('xip-status'), 'progress before status');

    const complete = events.find((e) => e.type === 'xip-complete').detail;
    assert.match(complete.jobId, /^job_/);
    const media = complete.media;
    assert.match(media.id, /^med_/);
    assert.deepEqual([media.width, media.height, media.sourceType, media.sourceId], [900, 600, 'photo', 'plain']);
    // The event carries what the server says of the media, its paths made
    // absolute against the server (the page is on another origin).
    const stored = await pipeline.api(`/media/${media.id}`);
    assert.equal(stored.status, 200);
    assert.match(stored.body.srcset.webp, /^\/image-pipeline\/files\//);
    assert.deepEqual(media, resolveMediaURLs(stored.body, pipeline.url + '/'));
    assert.ok(media.srcset.webp && media.srcset.avif, `srcset ${JSON.stringify(media.srcset)}`);

    // The row: name, final status, full progress, no message.
    const row = await page.locator('xip-upload').evaluate((el) => {
      const li = el.shadowRoot.querySelector('li');
      return {
        status: li.dataset.status, part: li.getAttribute('part'), jobId: li.dataset.jobId,
        name: li.querySelector('[part=name]').textContent, label: li.querySelector('[part=status]').textContent,
        progress: li.querySelector('progress').value, message: li.querySelector('[part=message]').textContent,
      };
    });
    assert.deepEqual(row, { status: 'COMPLETE', part: 'item item-complete', jobId: complete.jobId, name: 'photo.png', label: 'Done', progress: 100, message: '' });

    // The page hands the media to <xip-image>: AVIF first, the 400w candidate for 400 CSS px at 1x.
    await page.waitForFunction(() => document.querySelector('#shown').hasAttribute('loaded'));
    const img = await imageState(page, '#shown');
    assert.equal(img.source.type, 'image/avif');
    assert.equal(img.source.srcset, media.srcset.avif);
    assert.equal(img.img.srcset, media.srcset.webp);
    assert.equal(img.img.sizes, '400px');
    assert.equal(img.source.sizes, '400px');
    assert.ok(urls(media.srcset.avif).includes(img.img.currentSrc), `currentSrc ${img.img.currentSrc} not in ${media.srcset.avif}`);
    assert.equal(img.img.currentSrc, media.variants['md.avif'].url);
    assert.equal(img.img.naturalWidth, 400);
    assert.equal(img.img.loading, 'lazy');
    assert.equal(img.img.alt, 'The last upload');
    // The frame has the shape of the variants (lg is 800 x 533): the image fills it.
    const lg = media.variants.lg;
    assert.deepEqual([lg.width, lg.height], [800, 533]);
    assert.deepEqual(img.frame, { width: 400, height: (400 * lg.height) / lg.width }, 'the frame keeps the shape');
    page.checkErrors();
    await page.context().close();
  });

  test('the placeholder shows until the variant arrives, in a box that does not move', async () => {
    const up = await pipeline.api('/media?sourceType=photo&sourceId=plain');
    const media = resolveMediaURLs(up.body.media[0], pipeline.url + '/');
    assert.ok(media, 'the first test uploaded one');

    const page = await newPage(browser);
    // Hold the variant files until the placeholder has been looked at.
    let release;
    const held = new Promise((r) => { release = r; });
    const asked = [];
    let requested;
    const firstRequest = new Promise((r) => { requested = r; });
    await page.route('**/image-pipeline/files/**', async (route) => {
      asked.push(route.request().url());
      requested();
      await held;
      await route.continue();
    });
    await page.goto(`${app.url}/pages/by-id.html`);
    await page.locator('#img').evaluate((el, id) => el.setAttribute('media-id', id), media.id);
    await page.waitForFunction(() => document.querySelector('#img').shadowRoot.querySelector('img'));
    await firstRequest; // the browser has chosen its variant, and waits for it
    const before = await imageState(page, '#img');
    const belowBefore = await page.locator('#below').boundingBox();
    assert.equal(before.loaded, false);
    assert.deepEqual([before.canvas.width, before.canvas.height, before.canvas.shown], [32, 21, true]);
    assert.equal(before.canvas.opaque, 32 * 21, 'the BlurHash is painted on every pixel');
    assert.deepEqual(before.frame, { width: 300, height: (300 * 533) / 800 }, 'the shape of the variants (lg is 800 x 533)');
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(media.dominantColor.slice(i, i + 2), 16));
    assert.equal(before.background, `rgb(${r}, ${g}, ${b})`, 'the dominant colour is the frame\'s background');

    release();
    await page.waitForFunction(() => document.querySelector('#img').hasAttribute('loaded'));
    const afterLoad = await imageState(page, '#img');
    assert.deepEqual(afterLoad.frame, before.frame, 'no layout shift');
    assert.deepEqual(await page.locator('#below').boundingBox(), belowBefore, 'nothing below moved');
    assert.ok(urls(media.srcset.avif).includes(afterLoad.img.currentSrc), afterLoad.img.currentSrc);
    assert.ok(afterLoad.img.naturalWidth > 0);
    assert.ok(asked.includes(afterLoad.img.currentSrc), 'the variant came through the held route');
    page.checkErrors();
    await page.context().close();
  });

  test('a dropped file; an avatar\'s crops keep their square', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/plain.html`);
    await page.locator('#up').evaluate((el) => el.setAttribute('source-type', 'avatar'));
    // A PNG the page draws, dropped on the zone.
    await page.evaluate(() => new Promise((resolve) => {
      const c = document.createElement('canvas');
      c.width = 320; c.height = 480;
      const g = c.getContext('2d');
      g.fillStyle = '#3a7'; g.fillRect(0, 0, 320, 480);
      g.fillStyle = '#fc3'; g.fillRect(40, 60, 120, 120);
      c.toBlob((blob) => {
        const dt = new DataTransfer();
        dt.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
        const zone = document.querySelector('#up').shadowRoot.querySelector('[part=dropzone]');
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        resolve();
      }, 'image/png');
    }));
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-complete' || e.type === 'xip-error'));
    const events = await page.evaluate(() => window.events);
    const complete = events.find((e) => e.type === 'xip-complete');
    assert.ok(complete, JSON.stringify(events.filter((e) => e.type === 'xip-error')));
    const media = complete.detail.media;
    assert.deepEqual([complete.detail.file, media.sourceType, media.width, media.height], ['dropped.png', 'avatar', 320, 480]);
    assert.equal(media.srcset.avif, undefined);
    assert.equal(media.srcset.webp, `${media.variants.xs.url} 64w, ${media.variants.sm.url} 150w`);

    await page.waitForFunction(() => document.querySelector('#shown').hasAttribute('loaded'));
    const img = await imageState(page, '#shown');
    assert.equal(img.source, null, 'no AVIF source without AVIF variants');
    assert.deepEqual(img.frame, { width: 400, height: 400 }, 'the crops are square');
    assert.equal(img.img.currentSrc, media.variants.sm.url, 'the widest crop for 400 px');
    assert.ok(img.img.naturalWidth > 0);
    page.checkErrors();
    await page.context().close();
  });

  test('refusals show the server\'s exact text: a text file named .png, a wrong key', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/plain.html`);
    await page.locator('xip-upload input[type=file]').setInputFiles(files.text);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-error'));
    let events = await page.evaluate(() => window.events);
    assert.deepEqual(events.find((e) => e.type === 'xip-error').detail,
      { file: 'notes.png', jobId: undefined, code: 'FILE_TYPE_NOT_ALLOWED', error: 'File type text/plain not allowed', status: 400 });
    assert.ok(!events.some((e) => e.type === 'xip-complete' || e.type === 'xip-status'));
    const row = () => page.locator('xip-upload').evaluate((el) => {
      const li = el.shadowRoot.querySelector('li');
      return { status: li.dataset.status, part: li.getAttribute('part'), label: li.querySelector('[part=status]').textContent,
        message: li.querySelector('[part=message]').textContent, progress: li.querySelector('progress').value };
    });
    assert.deepEqual(await row(), { status: 'ERROR', part: 'item item-error', label: 'Refused', message: 'File type text/plain not allowed', progress: 0 });
    // What a user sees: the message is rendered, in the page's ::part style.
    assert.equal(await page.locator('xip-upload [part=message]').first().innerText(), 'File type text/plain not allowed');
    assert.equal(await page.locator('xip-upload [part=message]').first().evaluate((m) => getComputedStyle(m).fontWeight), '700');

    await page.locator('#up').evaluate((el) => el.setAttribute('api-key', 'not-the-key-0123456789'));
    await page.evaluate(() => { window.events = []; });
    await page.locator('xip-upload input[type=file]').setInputFiles(files.photo);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-error'));
    events = await page.evaluate(() => window.events);
    const err = events.find((e) => e.type === 'xip-error').detail;
    assert.deepEqual([err.code, err.error, err.status], ['UNAUTHORIZED', 'An API key is required', 401]);
    assert.equal((await row()).message, 'An API key is required');
    page.checkErrors();
    await page.context().close();
  });

  test('a job that FAILED: its error, live, as the server has it', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/plain.html`);
    await page.locator('xip-upload input[type=file]').setInputFiles(files.broken);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-error' || e.type === 'xip-complete'));
    const events = await page.evaluate(() => window.events);
    const err = events.find((e) => e.type === 'xip-error')?.detail;
    assert.ok(err, JSON.stringify(events));
    assert.match(err.jobId, /^job_/, 'the upload was accepted');
    const status = await pipeline.api(`/status/${err.jobId}`);
    assert.equal(status.status, 500);
    assert.equal(status.body.status, 'FAILED');
    assert.deepEqual([err.code, err.error, err.status], [status.body.code || 'FAILED', status.body.error, 500]);
    assert.ok(err.error.length > 0);
    assert.deepEqual(events.filter((e) => e.type === 'xip-status').map((e) => e.detail.status).at(-1), 'FAILED');
    const row = await page.locator('xip-upload').evaluate((el) => {
      const li = el.shadowRoot.querySelector('li');
      return { status: li.dataset.status, label: li.querySelector('[part=status]').textContent, message: li.querySelector('[part=message]').textContent };
    });
    assert.deepEqual(row, { status: 'FAILED', label: 'Failed', message: status.body.error });
    page.checkErrors();
    await page.context().close();
  });

  test('token-url: the app\'s backend refusing shows its text', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/plain.html`);
    await page.locator('#up').evaluate((el) => {
      el.removeAttribute('api-key');
      el.setAttribute('token-url', '/api/no-token');
    });
    await page.locator('xip-upload input[type=file]').setInputFiles(files.photo);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-error'));
    const err = (await page.evaluate(() => window.events)).find((e) => e.type === 'xip-error').detail;
    assert.deepEqual([err.code, err.error, err.status], ['NOT_SIGNED_IN', 'Sign in to upload', 403]);
    // The request the element made: the contract's JSON.
    const asked = app.requests.filter((r) => r.path === '/api/no-token');
    assert.equal(asked.length, 1);
    assert.equal(asked[0].method, 'POST');
    assert.match(asked[0].headers['content-type'], /^application\/json/);
    const sent = JSON.parse(asked[0].body);
    assert.deepEqual(sent, { sourceType: 'photo', sourceId: 'plain', size: sent.size, contentType: 'image/png', name: 'photo.png' });
    assert.ok(sent.size > 1000);
    assert.equal(await page.locator('xip-upload [part=message]').first().innerText(), 'Sign in to upload');
    page.checkErrors();
    await page.context().close();
  });

  test('the API from a page: upload() and waitForProcessing() with an API key', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/by-id.html`);
    const got = await page.evaluate(async ({ endpoint, key }) => {
      const { upload, waitForProcessing, XipError } = await import('/dist/index.js');
      const c = document.createElement('canvas');
      c.width = 200; c.height = 100;
      c.getContext('2d').fillRect(0, 0, 50, 50);
      const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
      const seen = [];
      const job = await upload(blob, { endpoint, apiKey: key, sourceType: 'photo', sourceId: 'api', fileName: 'drawn.png' });
      const media = await waitForProcessing(job, { apiKey: key, via: 'poll', onStatus: (s) => seen.push(s.status) });
      let refused;
      try {
        await upload(blob, { endpoint, apiKey: key, sourceType: 'nope', sourceId: 'api' });
      } catch (e) {
        refused = { isXipError: e instanceof XipError, code: e.code, message: e.message, status: e.status };
      }
      return { job, media: { width: media.width, height: media.height, sourceId: media.sourceId }, seen, refused };
    }, { endpoint: pipeline.endpoint, key: API_KEY });
    assert.match(got.job.jobId, /^job_/);
    assert.equal(got.job.statusUrl, `${pipeline.endpoint}/status/${got.job.jobId}`);
    assert.deepEqual(got.media, { width: 200, height: 100, sourceId: 'api' });
    assert.equal(got.seen.at(-1), 'COMPLETE');
    assert.deepEqual(got.refused, { isXipError: true, code: 'UNKNOWN_SOURCE_TYPE', message: 'Unknown sourceType: nope', status: 400 });
    page.checkErrors();
    await page.context().close();
  });
});
