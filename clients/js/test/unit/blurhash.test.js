import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blurHashComponents, decodeBlurHash, isBlurHash, placeholderSize } from '../../dist/index.js';

// RGB of the 4x3 decodes, row by row, from go-blurhash (the Go port of the
// reference implementation that the server's tests check against).
const KNOWN = {
  'LBDbQU^j0#58N1-U%1bvV@%2-:%2': [129, 105, 100, 140, 99, 82, 117, 70, 57, 67, 44, 50, 84, 63, 63, 141, 105, 87, 137, 103, 85, 80, 61, 59, 63, 47, 43, 138, 109, 87, 146, 113, 88, 96, 72, 58],
  'LEHV6nWB2yk8pyo0adR*.7kCMdnj': [135, 164, 177, 161, 173, 177, 181, 180, 171, 160, 172, 174, 124, 154, 169, 148, 148, 154, 164, 145, 134, 146, 152, 155, 124, 144, 154, 144, 134, 132, 163, 130, 104, 148, 140, 134],
  'UBMOZfK1GG%LBBNG,;Rj2skq=eE1s9n4S5Na': [170, 134, 82, 176, 133, 84, 169, 125, 61, 176, 131, 76, 193, 144, 97, 185, 126, 70, 200, 127, 71, 204, 136, 86, 195, 137, 86, 200, 121, 50, 216, 128, 57, 208, 139, 86],
};

test('decodeBlurHash matches the reference decoder', () => {
  for (const [hash, want] of Object.entries(KNOWN)) {
    const px = decodeBlurHash(hash, 4, 3);
    assert.equal(px.length, 4 * 3 * 4);
    for (let i = 0; i < 12; i++) {
      for (let c = 0; c < 3; c++) {
        const got = px[4 * i + c];
        assert.ok(Math.abs(got - want[3 * i + c]) <= 1, `${hash} pixel ${i} channel ${c}: got ${got}, want ${want[3 * i + c]}`);
      }
      assert.equal(px[4 * i + 3], 255, 'opaque');
    }
  }
});

test('blurHashComponents reads the size byte', () => {
  assert.deepEqual(blurHashComponents('LBDbQU^j0#58N1-U%1bvV@%2-:%2'), { x: 4, y: 3 });
  assert.deepEqual(blurHashComponents('UBMOZfK1GG%LBBNG,;Rj2skq=eE1s9n4S5Na'), { x: 4, y: 4 });
});

test('a malformed hash is refused', () => {
  assert.throws(() => decodeBlurHash('LBDbQU', 4, 3), /length 6, want 28/);
  assert.throws(() => decodeBlurHash('LBDbQU^j0#58N1-U%1bvV@%2-:%"', 4, 3), /invalid character/);
  assert.throws(() => decodeBlurHash('', 4, 3), /too short/);
  assert.throws(() => decodeBlurHash('LBDbQU^j0#58N1-U%1bvV@%2-:%2', 0, 3), /positive integers/);
  assert.equal(isBlurHash('LBDbQU^j0#58N1-U%1bvV@%2-:%2'), true);
  assert.equal(isBlurHash('LBDbQU^j0#58N1-U%1bvV@%2-:%'), false);
  assert.equal(isBlurHash(null), false);
});

test('placeholderSize keeps the shape, 32 px on the long side', () => {
  assert.deepEqual(placeholderSize(900, 600), { width: 32, height: 21 });
  assert.deepEqual(placeholderSize(320, 480), { width: 21, height: 32 });
  assert.deepEqual(placeholderSize(150, 150), { width: 32, height: 32 });
  assert.deepEqual(placeholderSize(0, 0), { width: 32, height: 32 });
  assert.deepEqual(placeholderSize(10000, 10), { width: 32, height: 1 });
});
