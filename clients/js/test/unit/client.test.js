// The client against a scripted server: what it sends, and how it reads
// the answers. (The browser tests run it against the real one.)
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { XipError, getMedia, getStatus, parseEvent, resolveEndpoint, resolveMediaURLs, upload, waitForProcessing } from '../../dist/index.js';

let server;
let base;
let handler;
const requests = [];

before(async () => {
  server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const r = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
    requests.push(r);
    await handler(r, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

function answer(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const file = () => new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], 'a.png', { type: 'image/png' });
const media = { id: 'med_1', width: 10, height: 10, blurhash: '', srcset: { webp: '/f/md.webp 10w' }, variants: {} };
// As the client hands it over: the server's paths made absolute against it.
const resolved = () => ({ ...media, srcset: { webp: `${base}/f/md.webp 10w` } });

test('upload posts the fields before the file, with the API key', async () => {
  requests.length = 0;
  handler = (r, res) => answer(res, 202, { jobId: 'job_1', message: 'File uploaded. Processing started.', statusUrl: '/image-pipeline/status/job_1' });
  const progress = [];
  const job = await upload(file(), { endpoint: `${base}/image-pipeline`, apiKey: 'k'.repeat(20), sourceType: 'gallery', sourceId: 'u1', onProgress: (p) => progress.push(p) });
  assert.deepEqual(job, { jobId: 'job_1', message: 'File uploaded. Processing started.', statusUrl: `${base}/image-pipeline/status/job_1` });
  const r = requests[0];
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/image-pipeline/upload');
  assert.equal(r.headers.authorization, `Bearer ${'k'.repeat(20)}`);
  const body = r.body.toString('latin1');
  const at = (name) => body.indexOf(`name="${name}"`);
  assert.ok(at('sourceType') >= 0 && at('sourceType') < at('sourceId') && at('sourceId') < at('file'), body);
  assert.match(body, /filename="a.png"/);
  assert.equal(progress.at(-1).fraction, 1);
});

test('a refusal rejects with the server\'s text and code', async () => {
  handler = (r, res) => answer(res, 400, { error: 'Unknown sourceType: nope', code: 'UNKNOWN_SOURCE_TYPE' });
  await assert.rejects(upload(file(), { endpoint: base, sourceType: 'nope', sourceId: 'u1' }),
    (e) => e instanceof XipError && e.code === 'UNKNOWN_SOURCE_TYPE' && e.message === 'Unknown sourceType: nope' && e.status === 400);
});

test('BUSY is retried after its Retry-After, then given up', async () => {
  requests.length = 0;
  let n = 0;
  handler = (r, res) => (n++ < 1
    ? answer(res, 503, { error: 'Server busy, retry later', code: 'BUSY' }, { 'Retry-After': '0' })
    : answer(res, 202, { jobId: 'job_2', message: 'ok', statusUrl: '/status/job_2' }));
  assert.equal((await upload(file(), { endpoint: base, sourceType: 'gallery', sourceId: 'u1' })).jobId, 'job_2');
  assert.equal(requests.length, 2);

  handler = (r, res) => answer(res, 503, { error: 'Server busy, retry later', code: 'BUSY' }, { 'Retry-After': '0' });
  requests.length = 0;
  await assert.rejects(upload(file(), { endpoint: base, sourceType: 'gallery', sourceId: 'u1', retries: 1 }),
    (e) => e.code === 'BUSY' && e.retryAfter === 0);
  assert.equal(requests.length, 2);
});

test('a token string: Bearer, and the fields may be left to the token', async () => {
  requests.length = 0;
  handler = (r, res) => answer(res, 202, { jobId: 'job_3', message: 'ok', statusUrl: '/image-pipeline/status/job_3' });
  await upload(file(), { endpoint: `${base}/image-pipeline`, token: 'xut_abc' });
  assert.equal(requests[0].headers.authorization, 'Bearer xut_abc');
  assert.doesNotMatch(requests[0].body.toString('latin1'), /name="source/);
});

test('a token answer: its uploadUrl, resolved against the endpoint', async () => {
  requests.length = 0;
  handler = (r, res) => answer(res, 202, { jobId: 'job_4', message: 'ok', statusUrl: '/image-pipeline/status/job_4' });
  const job = await upload(file(), { endpoint: `${base}/image-pipeline`, token: { token: 'xut_def', uploadUrl: '/image-pipeline/upload' } });
  assert.equal(requests[0].url, '/image-pipeline/upload');
  assert.equal(requests[0].headers.authorization, 'Bearer xut_def');
  assert.equal(job.statusUrl, `${base}/image-pipeline/status/job_4`);
});

test('a direct upload: PUT with putHeaders, then POST completeUrl with the token', async () => {
  requests.length = 0;
  handler = (r, res) => {
    if (r.method === 'PUT') return res.writeHead(200).end();
    answer(res, 202, { jobId: 'job_5', message: 'ok', statusUrl: '/image-pipeline/status/job_5' });
  };
  const token = {
    token: 'xut_direct', jobId: 'job_5',
    putUrl: `${base}/bucket/staging/job_5?X-Amz-Signature=abc`, putHeaders: { 'Content-Type': 'image/png', 'x-amz-meta-job': 'job_5' },
    completeUrl: `${base}/image-pipeline/upload-tokens/complete`,
  };
  const progress = [];
  const job = await upload(file(), { token, onProgress: (p) => progress.push(p) });
  assert.equal(job.jobId, 'job_5');
  const [put, complete] = requests;
  assert.deepEqual([put.method, put.url, put.headers['content-type'], put.headers['x-amz-meta-job'], put.headers.authorization],
    ['PUT', '/bucket/staging/job_5?X-Amz-Signature=abc', 'image/png', 'job_5', undefined]);
  assert.deepEqual([...put.body], [0x89, 0x50, 0x4e, 0x47], 'the raw file');
  assert.deepEqual([complete.method, complete.url, complete.headers.authorization], ['POST', '/image-pipeline/upload-tokens/complete', 'Bearer xut_direct']);
  assert.deepEqual(progress.at(-1), { loaded: 4, total: 4, fraction: 1 });
});

test('a refused PUT says what the storage said', async () => {
  handler = (r, res) => res.writeHead(403, { 'Content-Type': 'application/xml' })
    .end('<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>');
  await assert.rejects(upload(file(), { token: { token: 'xut_x', putUrl: `${base}/b/k`, completeUrl: `${base}/c` } }),
    (e) => e.code === 'STORAGE_PUT_FAILED' && e.message === 'Upload to storage failed (HTTP 403 SignatureDoesNotMatch)' && e.status === 403);
});

test('waitForProcessing follows the event stream', async () => {
  requests.length = 0;
  handler = (r, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('event: status\ndata: {"jobId":"job_6","status":"PENDING"}\n\n');
    res.write(': keep-alive\n\n');
    res.write('event: status\ndata: {"jobId":"job_6","status":"PROCESSING"}\n\n');
    res.end(`event: status\ndata: ${JSON.stringify({ jobId: 'job_6', status: 'COMPLETE', media })}\n\n`);
  };
  const seen = [];
  const got = await waitForProcessing('job_6', { endpoint: `${base}/image-pipeline`, token: 'xut_t', onStatus: (s) => seen.push(s.status) });
  assert.deepEqual(got, resolved());
  assert.deepEqual(seen, ['PENDING', 'PROCESSING', 'COMPLETE']);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].url, '/image-pipeline/events/job_6');
  assert.equal(requests[0].headers.authorization, 'Bearer xut_t');
});

test('a broken stream falls back to long polls', async () => {
  requests.length = 0;
  handler = (r, res) => {
    if (r.url.startsWith('/image-pipeline/events/')) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      return res.end('event: status\ndata: {"jobId":"job_7","status":"PROCESSING"}\n\n'); // ends before the end
    }
    answer(res, 400, { jobId: 'job_7', status: 'REJECTED', reason: 'Image rejected by moderation', moderationDetails: { flags: ['x'] } });
  };
  const seen = [];
  await assert.rejects(waitForProcessing({ jobId: 'job_7', statusUrl: `${base}/image-pipeline/status/job_7` }, { onStatus: (s) => seen.push(s.status) }),
    (e) => e.code === 'REJECTED' && e.message === 'Image rejected by moderation' && e.body.moderationDetails.flags[0] === 'x');
  assert.deepEqual(seen, ['PROCESSING', 'REJECTED']);
  assert.deepEqual(requests.map((r) => r.url), ['/image-pipeline/events/job_7', '/image-pipeline/status/job_7?wait=30s']);
});

test('long polls only: FAILED with its code; an unknown job', async () => {
  requests.length = 0;
  let n = 0;
  handler = (r, res) => (n++ === 0
    ? answer(res, 202, { jobId: 'job_8', status: 'PROCESSING' })
    : answer(res, 500, { jobId: 'job_8', status: 'FAILED', error: 'Image could not be decoded', code: 'DECODE_FAILED', attempts: 1 }));
  await assert.rejects(waitForProcessing('job_8', { endpoint: base, via: 'poll', pollSeconds: 5 }),
    (e) => e.code === 'DECODE_FAILED' && e.message === 'Image could not be decoded' && e.status === 500);
  assert.deepEqual(requests.map((r) => r.url), ['/status/job_8?wait=5s', '/status/job_8?wait=5s']);

  handler = (r, res) => answer(res, 404, { error: 'Job not found', code: 'JOB_NOT_FOUND' });
  await assert.rejects(waitForProcessing('job_9', { endpoint: base }), (e) => e.code === 'JOB_NOT_FOUND' && e.message === 'Job not found');
});

test('COMPLETE with deleted media', async () => {
  handler = (r, res) => answer(res, 200, { jobId: 'job_10', status: 'COMPLETE', media: null });
  await assert.rejects(waitForProcessing('job_10', { endpoint: base, via: 'poll' }), (e) => e.code === 'MEDIA_NOT_FOUND');
  assert.equal((await getStatus('job_10', { endpoint: base })).status, 'COMPLETE');
});

test('getMedia', async () => {
  handler = (r, res) => (r.url === '/m/media/med_1' ? answer(res, 200, media) : answer(res, 404, { error: 'Media not found', code: 'MEDIA_NOT_FOUND' }));
  assert.deepEqual(await getMedia('med_1', { endpoint: `${base}/m` }), resolved());
  await assert.rejects(getMedia('med_2', { endpoint: `${base}/m` }), (e) => e.code === 'MEDIA_NOT_FOUND' && e.status === 404);
});

test('abort and network errors', async () => {
  const ctl = new AbortController();
  ctl.abort();
  await assert.rejects(upload(file(), { endpoint: base, signal: ctl.signal }), (e) => e.code === 'ABORTED');
  await assert.rejects(upload(file(), { endpoint: 'http://127.0.0.1:1/x' }), (e) => e.code === 'NETWORK_ERROR' && e.status === 0);
});

test('endpoints', () => {
  assert.equal(resolveEndpoint('https://img.example/image-pipeline/'), 'https://img.example/image-pipeline');
  assert.throws(() => resolveEndpoint('/image-pipeline'), (e) => e.code === 'INVALID_ENDPOINT');
});

test('parseEvent', () => {
  assert.deepEqual(parseEvent('event: status\ndata: {"a":1}'), { event: 'status', data: '{"a":1}' });
  assert.deepEqual(parseEvent(': comment\ndata:x\ndata: y'), { event: 'message', data: 'x\ny' });
});

test('resolveMediaURLs: the server\'s paths against where they came from', () => {
  const m = {
    id: 'med_1', urls: { md: '/p/files/md.webp' }, originalUrl: '/p/files/o.png',
    variants: { md: { url: '/p/files/md.webp', width: 400, height: 300, format: 'webp', bytes: 9 },
      'md.avif': { url: 'https://cdn.example/md.avif', width: 400, height: 300, format: 'avif', bytes: 7 } },
    srcset: { webp: '/p/files/md.webp 400w, /p/files/lg.webp 800w', avif: 'https://cdn.example/md.avif 400w' },
  };
  const got = resolveMediaURLs(m, 'https://img.example/p/media/med_1');
  assert.deepEqual(got, {
    id: 'med_1', urls: { md: 'https://img.example/p/files/md.webp' }, originalUrl: 'https://img.example/p/files/o.png',
    variants: { md: { ...m.variants.md, url: 'https://img.example/p/files/md.webp' }, 'md.avif': m.variants['md.avif'] },
    srcset: { webp: 'https://img.example/p/files/md.webp 400w, https://img.example/p/files/lg.webp 800w', avif: 'https://cdn.example/md.avif 400w' },
  });
  assert.equal(m.urls.md, '/p/files/md.webp', 'the argument is left alone');
  assert.equal(resolveMediaURLs(null, 'https://x.example/'), null);
});
