// Upload tokens in the browser: the app's backend mints them (POST
// {prefix}/upload-tokens with its API key), the page uploads and reads its
// job's status with Bearer xut_..., and every refusal reaches the page in
// the server's words.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newPage, skipOrFail, startStack } from './harness.js';

const skip = skipOrFail();

describe('upload tokens in Chromium', { skip, timeout: 180_000 }, () => {
  let pipeline;
  let app;
  let browser;
  let files;
  let stack;

  const mint = async (fields) => {
    const res = await pipeline.api('/upload-tokens', { method: 'POST', body: JSON.stringify(fields) });
    assert.equal(res.status, 201, `POST /upload-tokens ${JSON.stringify(fields)}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };

  before(async () => {
    stack = await startStack({ routes: {
        // The app's backend, as the README shows it: it would check the user's
        // session, then mint a token for that user's own sourceType/sourceId
        // with its API key, and hand the pipeline's answer to the page.
        '/api/upload-token': async (req, res, body) => {
          const asked = JSON.parse(body);
          const minted = await pipeline.api('/upload-tokens', {
            method: 'POST',
            body: JSON.stringify({ sourceType: 'photo', sourceId: 'tok', maxFileSize: asked.size + 1024, expiresIn: 300 }),
          });
          res.writeHead(minted.status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(minted.body));
        },
      }, uploadTokens: true });
    ({ files, app, pipeline, browser } = stack);
  });

  after(() => stack?.stop());

  test('the token answer has the documented fields', async () => {
    const tok = await mint({ sourceType: 'photo', sourceId: 'tok', maxFileSize: 1_000_000, expiresIn: 120 });
    assert.match(tok.token, /^xut_/);
    assert.deepEqual([tok.sourceType, tok.sourceId, tok.maxFileSize], ['photo', 'tok', 1_000_000]);
    assert.ok(tok.uploadUrl && !Number.isNaN(Date.parse(tok.expiresAt)), JSON.stringify(tok));
    assert.equal(tok.putUrl, undefined, 'no direct upload unless asked');
  });

  test('<xip-upload token-url>: a token per file from the app, the status read with it', async () => {
    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/token.html`);
    await page.locator('xip-upload input[type=file]').setInputFiles(files.photo);
    await page.waitForFunction(() => window.events.some((e) => e.type === 'xip-complete' || e.type === 'xip-error'));
    const events = await page.evaluate(() => window.events);
    const complete = events.find((e) => e.type === 'xip-complete');
    assert.ok(complete, JSON.stringify(events.filter((e) => e.type === 'xip-error')));
    // No API key in the page and the server requires one: the upload and
    // the status reads went with the token.
    assert.deepEqual([complete.detail.media.sourceType, complete.detail.media.sourceId, complete.detail.media.width], ['photo', 'tok', 900]);
    assert.equal(events.filter((e) => e.type === 'xip-status').at(-1).detail.status, 'COMPLETE');
    const asked = app.requests.filter((r) => r.path === '/api/upload-token');
    assert.equal(asked.length, 1);
    const sent = JSON.parse(asked[0].body);
    assert.deepEqual(sent, { sourceType: 'photo', sourceId: 'tok', size: sent.size, contentType: 'image/png', name: 'photo.png' });
    await page.waitForFunction(() => document.querySelector('#shown').hasAttribute('loaded'));
    page.checkErrors();
    await page.context().close();
  });

  test('upload(file, {token}) and the token refusals, with the server\'s text', async () => {
    // What the server says to each refusal, asked directly: the page must show the same.
    const refusal = async (token, fields = {}) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('file', new Blob([Buffer.from('not sent')], { type: 'image/png' }), 'x.png');
      const res = await fetch(`${pipeline.endpoint}/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
      return { status: res.status, ...(await res.json()) };
    };
    const used = await mint({ sourceType: 'photo', sourceId: 'tok' });
    const other = await mint({ sourceType: 'photo', sourceId: 'tok' });
    const other2 = await mint({ sourceType: 'photo', sourceId: 'tok' }); // for the direct check: a refusal may spend a token
    const short = await mint({ sourceType: 'photo', sourceId: 'tok', expiresIn: 1 });

    const page = await newPage(browser);
    await page.goto(`${app.url}/pages/by-id.html`);
    const run = (fn, arg) => page.evaluate(async ([src, a]) => {
      const api = await import('/dist/index.js');
      const c = document.createElement('canvas');
      c.width = 160; c.height = 120;
      c.getContext('2d').fillRect(0, 0, 80, 60);
      const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
      try {
        return { ok: await (0, eval)(src)(api, blob, a) };
      } catch (e) {
        return { code: e.code, error: e.message, status: e.status };
      }
    }, [fn.toString(), arg]);

    // The string token: no fields (the token's apply), then the job read with it.
    const first = await run(async (api, blob, { endpoint, token }) => {
      const job = await api.upload(blob, { endpoint, token, fileName: 'drawn.png' });
      const media = await api.waitForProcessing(job, { token });
      return { sourceType: media.sourceType, sourceId: media.sourceId, width: media.width };
    }, { endpoint: pipeline.endpoint, token: used.token });
    assert.deepEqual(first, { ok: { sourceType: 'photo', sourceId: 'tok', width: 160 } });

    const uploadWith = async (args) => run(async (api, blob, a) => api.upload(blob, a), { endpoint: pipeline.endpoint, ...args });
    const cases = [
      ['TOKEN_USED', 403, { token: used.token }, used.token],
      ['TOKEN_INVALID', 401, { token: 'xut_this-is-no-token' }, 'xut_this-is-no-token'],
      ['TOKEN_MISMATCH', 403, { token: other.token, sourceType: 'photo', sourceId: 'someone-else' }, other2.token, { sourceType: 'photo', sourceId: 'someone-else' }],
    ];
    // Expired: wait until its expiry has passed.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.expiresAt) - Date.now()) + 1100));
    cases.push(['TOKEN_EXPIRED', 401, { token: short.token }, short.token]);
    for (const [code, status, args, token, fields] of cases) {
      const got = await uploadWith(args);
      assert.deepEqual([got.code, got.status], [code, status], `${code}: ${JSON.stringify(got)}`);
      const direct = await refusal(token, fields);
      assert.deepEqual([direct.code, direct.status], [code, status]);
      assert.equal(got.error, direct.error, `${code}: the page shows the server's text`);
    }
    page.checkErrors();
    await page.context().close();
  });
});
