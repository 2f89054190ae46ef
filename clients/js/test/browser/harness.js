// The browser tests' harness: the real server binary on a free port with a
// temporary data directory, an "app" server on another origin that serves
// the test pages, the built package and an upload-token endpoint, and
// Debian's Chromium driven headless through playwright-core.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
export const pkgDir = resolve(here, '../..');
export const repoDir = resolve(pkgDir, '../..');
export const PREFIX = '/image-pipeline';
export const API_KEY = 'browser-test-key-0123456789abcdef';

// ------------------------------------------------------------ what is needed

function chromiumPath() {
  for (const p of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

/**
 * needs says why the browser tests cannot run here, or null when they can.
 * Outside CI the tests skip with that reason; with CI=true a missing piece
 * fails them instead (a browser test that skips would pass a machine that
 * cannot run it).
 */
export function needs() {
  if (!chromiumPath()) return 'chromium is not installed (scripts/install-deps.sh test installs Debian\'s chromium)';
  if (!existsSync(join(pkgDir, 'dist/define.js'))) return 'the package is not built: run npm run build first';
  if (!process.env.XIP_BIN) {
    try {
      execFileSync('go', ['version'], { stdio: 'ignore' });
    } catch {
      return 'go is not installed, and XIP_BIN does not name a built ximagepipeline binary';
    }
  }
  return null;
}

/** skipOrFail: the node:test `skip` option for the browser tests, throwing under CI. */
export function skipOrFail() {
  const why = needs();
  if (why && process.env.CI === 'true') throw new Error(`browser tests cannot run in CI: ${why}`);
  return why ? `skipped: ${why}` : false;
}

/** serverBinary returns the server binary: $XIP_BIN, or the repo's, built (go caches) from this checkout. */
export function serverBinary() {
  if (process.env.XIP_BIN) return process.env.XIP_BIN;
  const bin = join(repoDir, 'bin/ximagepipeline');
  execFileSync('go', ['build', '-o', bin, './cmd/ximagepipeline'], { cwd: repoDir, stdio: 'inherit' });
  return bin;
}

// ----------------------------------------------------------------- servers

/**
 * startPipeline runs `ximagepipeline serve` on 127.0.0.1 with a fresh data
 * directory, API keys required, the app's origin allowed by CORS, and a
 * config with a "photo" source type that makes AVIF too; with uploadTokens,
 * a secret to sign upload tokens with.
 */
export async function startPipeline({ corsOrigin, uploadTokens = false, extraArgs = [] }) {
  const dir = mkdtempSync(join(tmpdir(), 'xip-js-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `sourceTypes:
  photo: {variants: [md, lg], quality: 80, storeOriginal: false, formats: [webp, avif]}
  avatar: {variants: [xs, sm], quality: 80}
`);
  const args = ['serve', '--addr', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--config', config,
    '--api-key', API_KEY, '--cors-origin', corsOrigin, '--concurrency', '1', ...extraArgs];
  const env = { ...process.env };
  if (uploadTokens) env.UPLOAD_TOKEN_SECRET = 'a-test-secret-of-at-least-32-bytes-long';
  const proc = spawn(serverBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const log = [];
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        log.push(line);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === 'serving') resolve(`http://${rec.addr}`);
        } catch { /* not a log record */ }
      }
    });
    proc.on('exit', (code) => reject(new Error(`ximagepipeline serve exited ${code}:\n${log.join('\n')}`)));
  });
  return {
    url,
    endpoint: url + PREFIX,
    log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    /** api calls the pipeline as the app's backend does, with the API key. */
    async api(path, init = {}) {
      const res = await fetch(url + PREFIX + path, {
        ...init,
        headers: { Authorization: `Bearer ${API_KEY}`, ...(init.body ? { 'Content-Type': 'application/json' } : {}), ...init.headers },
      });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch { body = text; }
      return { status: res.status, body };
    },
  };
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css' };

/**
 * startApp serves the test pages (with {{ENDPOINT}} and {{API_KEY}} filled
 * in), the built package under /dist/, extra routes, and records what it
 * was asked.
 */
export async function startApp(routes = {}) {
  const app = { requests: [], endpoint: '', apiKey: API_KEY, url: '' };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = new URL(req.url, 'http://x').pathname;
    app.requests.push({ method: req.method, path, body, headers: req.headers });
    try {
      if (routes[path]) return await routes[path](req, res, body);
      let file = null;
      let fill = false;
      if (path.startsWith('/dist/')) file = join(pkgDir, path);
      else if (path.startsWith('/pages/')) {
        file = join(here, path);
        fill = true;
      }
      if (!file || !file.startsWith(pkgDir) || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      let content = readFileSync(file);
      if (fill) {
        content = content.toString('utf8').replaceAll('{{ENDPOINT}}', app.endpoint).replaceAll('{{API_KEY}}', app.apiKey);
      }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(content);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  app.url = `http://127.0.0.1:${server.address().port}`;
  app.stop = () => new Promise((r) => server.close(r));
  return app;
}

// ----------------------------------------------------------------- browser

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    // As the dashboard's Go tests start it (playwright adds --headless and,
    // as root, --no-sandbox).
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return browser;
}

/**
 * newPage opens a page that records uncaught exceptions: a test calls
 * page.checkErrors() at its end. (Refused requests log console errors by
 * design; exceptions never.)
 */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.checkErrors = () => {
    if (errors.length) throw new Error(`page exceptions: ${errors.map((e) => e.stack || e).join('\n')}`);
  };
  return page;
}

// ------------------------------------------------------------ test images

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** pngImage encodes an RGB picture: a gradient with a bright disc off-centre. */
export function pngImage(width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const o = row + 1 + x * 3;
      const dx = x - width * 0.68;
      const dy = y - height * 0.37;
      const disc = dx * dx + dy * dy < (height * 0.15) ** 2;
      raw[o] = disc ? 250 : 40 + Math.floor((x * 120) / width);
      raw[o + 1] = disc ? 200 : 70 + Math.floor((y * 100) / height);
      raw[o + 2] = disc ? 60 : 150;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** brokenPNG has a valid PNG header (it passes the upload's checks) and image data that is not deflate: it cannot be decoded. */
export function brokenPNG() {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(64, 0);
  ihdr.writeUInt32BE(48, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from('this is not deflate data, so there are no pixels here at all'.repeat(4))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** writeFixtures writes the test's files to a temporary directory. */
export function writeFixtures() {
  const dir = mkdtempSync(join(tmpdir(), 'xip-js-files-'));
  const files = {
    photo: join(dir, 'photo.png'),
    text: join(dir, 'notes.png'), // a text file under an image's name
    broken: join(dir, 'broken.png'),
  };
  writeFileSync(files.broken, brokenPNG());
  writeFileSync(files.photo, pngImage(900, 600));
  writeFileSync(files.text, 'These are notes, not a picture.\n'.repeat(20));
  files.cleanup = () => rmSync(dir, { recursive: true, force: true });
  return files;
}

/**
 * startStack starts what each browser suite needs: the test images, the
 * app's origin with its routes, the pipeline allowing that origin (with
 * upload tokens when asked), and Chromium. stop ends them all, also after
 * a start that failed half-way.
 */
export async function startStack({ routes = {}, uploadTokens = false } = {}) {
  const stack = {
    async stop() {
      await stack.browser?.close();
      await stack.pipeline?.stop();
      await stack.app?.stop();
      stack.files?.cleanup();
    },
  };
  try {
    stack.files = writeFixtures();
    stack.app = await startApp(routes);
    stack.pipeline = await startPipeline({ corsOrigin: stack.app.url, uploadTokens });
    stack.app.endpoint = stack.pipeline.endpoint;
    stack.browser = await launchBrowser();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
