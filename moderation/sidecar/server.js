// ximagepipeline's offline moderation sidecar: the nsfwjs classifier (its
// weights ship inside the npm package) on TensorFlow.js' WebAssembly
// backend, behind the pipeline's `http` moderation protocol
// (docs/moderation.md). No cloud account, no download at run time.
//
//   npm ci && node server.js          # or: make moderation-sidecar
//   ximagepipeline serve --moderation http --moderation-url http://127.0.0.1:8790/moderate
//
// Settings (environment):
//   PORT              8790
//   HOST              127.0.0.1 (the sidecar has no authentication of its own
//                     unless MODERATION_SECRET is set)
//   NSFW_MODEL        MobileNetV2 (fast, 224 px), MobileNetV2Mid or InceptionV3 (299 px)
//   NSFW_THRESHOLD    0.6: a class at or above it becomes a flag
//   MODERATION_SECRET when set, requests must carry a valid X-Ximagepipeline-Signature
//
// Classes map to flags: Porn and Hentai -> "explicit", Sexy -> "suggestive";
// Neutral and Drawing are safe.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const path = require("node:path");
const tf = require("@tensorflow/tfjs");
const wasm = require("@tensorflow/tfjs-backend-wasm");
const jpeg = require("jpeg-js");
const nsfwjs = require("nsfwjs");

const PORT = Number(process.env.PORT || 8790);
const HOST = process.env.HOST || "127.0.0.1";
const MODEL = process.env.NSFW_MODEL || "MobileNetV2";
const THRESHOLD = Number(process.env.NSFW_THRESHOLD || 0.6);
const SECRET = process.env.MODERATION_SECRET || "";
const MAX_BODY = 20 << 20;
// A signed request older or newer than this is refused (replay window).
const MAX_SKEW_SECONDS = 300;

const FLAGS = { Porn: "explicit", Hentai: "explicit", Sexy: "suggestive" };

async function loadModel() {
  // The wasm files ship in the npm package: point the backend at them
  // instead of a CDN.
  wasm.setWasmPaths(path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), path.sep));
  if (!(await tf.setBackend("wasm"))) {
    await tf.setBackend("cpu");
  }
  await tf.ready();
  const model = await nsfwjs.load(MODEL);
  // The first inference compiles the graph (seconds); pay it before
  // listening, not on the first upload.
  const warm = tf.zeros([64, 64, 3], "int32");
  await model.classify(warm);
  warm.dispose();
  return model;
}

// classify turns a JPEG into the protocol's answer.
async function classify(model, body) {
  const img = jpeg.decode(body, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 50 });
  const input = tf.tensor3d(img.data, [img.height, img.width, 3], "int32");
  let predictions;
  try {
    predictions = await model.classify(input, 5);
  } finally {
    input.dispose();
  }
  const scores = {};
  for (const p of predictions) scores[p.className] = p.probability;
  const byFlag = {};
  for (const [cls, flag] of Object.entries(FLAGS)) {
    const s = scores[cls] || 0;
    if (s >= THRESHOLD && s > (byFlag[flag] || 0)) byFlag[flag] = s;
  }
  const flags = Object.keys(byFlag).sort((a, b) => byFlag[b] - byFlag[a]);
  // Confidence is that of the strongest flag; with none, how sure the
  // model is that the image is safe.
  const confidence = flags.length
    ? byFlag[flags[0]]
    : (scores.Neutral || 0) + (scores.Drawing || 0);
  return {
    flags,
    confidence: Math.round(confidence * 10000) / 10000,
    labels: predictions.map((p) => ({ name: p.className, confidence: Math.round(p.probability * 10000) / 10000 })),
    model: "nsfwjs/" + MODEL,
  };
}

function verify(req, body) {
  if (!SECRET) return true;
  const ts = req.headers["x-ximagepipeline-timestamp"] || "";
  const sig = req.headers["x-ximagepipeline-signature"] || "";
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > MAX_SKEW_SECONDS) return false;
  const mac = crypto.createHmac("sha256", SECRET).update(ts + ".").update(body).digest("hex");
  const want = Buffer.from("sha256=" + mac);
  const got = Buffer.from(String(sig));
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

function reply(res, status, obj) {
  const b = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(b) });
  res.end(b);
}

async function main() {
  const started = Date.now();
  const model = await loadModel();
  console.log(`nsfwjs ${MODEL} loaded on ${tf.getBackend()} in ${Date.now() - started} ms`);

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") return reply(res, 200, { ok: true, model: MODEL });
    if (req.method !== "POST" || req.url.split("?")[0] !== "/moderate") return reply(res, 404, { error: "POST /moderate" });
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(res, 413, { error: "image too large" });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", async () => {
      if (res.writableEnded) return;
      const body = Buffer.concat(chunks);
      if (!verify(req, body)) return reply(res, 401, { error: "bad signature" });
      try {
        const t = Date.now();
        const out = await classify(model, body);
        out.ms = Date.now() - t;
        reply(res, 200, out);
      } catch (e) {
        // A body that is not a JPEG is the client's fault: 400, not retried forever.
        reply(res, 400, { error: "cannot classify: " + e.message });
      }
    });
  });
  server.listen(PORT, HOST, () => console.log(`moderation sidecar on http://${HOST}:${PORT}/moderate`));
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
