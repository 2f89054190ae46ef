import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XipError, errorFromAnswer, errorFromStatus, parseRetryAfter } from '../../dist/index.js';

test('a refusal keeps the server\'s exact text and code', () => {
  const e = errorFromAnswer(400, '{"error":"File type text/plain not allowed","code":"FILE_TYPE_NOT_ALLOWED"}\n');
  assert.ok(e instanceof XipError && e instanceof Error);
  assert.equal(e.message, 'File type text/plain not allowed');
  assert.equal(e.error, 'File type text/plain not allowed');
  assert.equal(e.code, 'FILE_TYPE_NOT_ALLOWED');
  assert.equal(e.status, 400);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'FILE_TYPE_NOT_ALLOWED', error: 'File type text/plain not allowed', status: 400 });
});

test('BUSY carries its Retry-After', () => {
  const e = errorFromAnswer(503, '{"error":"Server busy, retry later","code":"BUSY"}', '1');
  assert.equal(e.code, 'BUSY');
  assert.equal(e.retryAfter, 1);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});

test('the token refusals map like any other', () => {
  for (const [status, code, error] of [
    [401, 'TOKEN_INVALID', 'Upload token is invalid'],
    [401, 'TOKEN_EXPIRED', 'Upload token has expired'],
    [403, 'TOKEN_USED', 'Upload token has already been used'],
    [403, 'TOKEN_MISMATCH', 'Upload token is for another sourceType or sourceId'],
  ]) {
    const e = errorFromAnswer(status, JSON.stringify({ error, code }));
    assert.deepEqual([e.status, e.code, e.message], [status, code, error]);
  }
});

test('an answer that is not the API\'s JSON', () => {
  const html = errorFromAnswer(502, '<html><body>Bad Gateway</body></html>');
  assert.deepEqual([html.code, html.message, html.status], ['HTTP_502', 'HTTP 502', 502]);
  const empty = errorFromAnswer(500, '');
  assert.deepEqual([empty.code, empty.message], ['HTTP_500', 'HTTP 500']);
  const noCode = errorFromAnswer(418, '{"error":"I am a teapot"}');
  assert.deepEqual([noCode.code, noCode.message], ['HTTP_418', 'I am a teapot']);
});

test('final statuses as errors', () => {
  const rejected = errorFromStatus({ jobId: 'job_1', status: 'REJECTED', reason: 'Image rejected by moderation', moderationDetails: {} });
  assert.deepEqual([rejected.code, rejected.message, rejected.status], ['REJECTED', 'Image rejected by moderation', 400]);
  const failed = errorFromStatus({ jobId: 'job_1', status: 'FAILED', error: 'Image could not be decoded', attempts: 1 });
  assert.deepEqual([failed.code, failed.message, failed.status], ['FAILED', 'Image could not be decoded', 500]);
  const coded = errorFromStatus({ jobId: 'job_1', status: 'FAILED', error: 'Image could not be decoded', code: 'DECODE_FAILED', attempts: 1 });
  assert.equal(coded.code, 'DECODE_FAILED');
});
