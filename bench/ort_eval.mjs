// ort_eval.mjs — the reference: evaluates an ONNX classifier with onnxruntime-node (CPU)
// on IDX images/labels, with the same preprocessing as `ptq eval`, and prints one JSON
// object {model, images, correct, top1, seconds, images_per_second, batch, threads}.
// `seconds` times session.run only, like ptq's.
//
// usage: node ort_eval.mjs MODEL IMAGES LABELS [--batch 256] [--threads 2]
//        [--mean 0.286] [--std 0.353] [--limit N] [--dump FILE] [--opt all|basic|disabled]
//        [--save-optimized FILE]
//        (--dump: raw f32 logits; --opt: onnxruntime's graph optimisation level;
//        --save-optimized: the graph onnxruntime actually runs, after its fusions)
import fs from 'node:fs';
import zlib from 'node:zlib';
import ort from 'onnxruntime-node';

function readIdx(path) {
  let buf = fs.readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) throw new Error(`${path}: not a uint8 IDX file`);
  const rank = buf[3];
  const dims = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * rank) };
}

const args = process.argv.slice(2);
const opt = { batch: 256, threads: 2, mean: 0.286, std: 0.353, limit: 0, dump: '', opt: 'all', 'save-optimized': '' };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) {
    const k = args[i].slice(2);
    if (!(k in opt)) throw new Error(`unknown option ${args[i]}`);
    opt[k] = (k === 'dump' || k === 'opt' || k === 'save-optimized') ? args[++i] : Number(args[++i]);
  } else pos.push(args[i]);
}
const [modelPath, imagesPath, labelsPath] = pos;
const images = readIdx(imagesPath), labels = readIdx(labelsPath);
let n = images.dims[0];
if (opt.limit > 0 && opt.limit < n) n = opt.limit;
const h = images.dims[1], w = images.dims[2], per = h * w;
// Same float32 arithmetic as ptq (and torchvision): x / 255, then (x - mean) / std.
const x = new Float32Array(n * per);
const mean = Math.fround(opt.mean), std = Math.fround(opt.std);
for (let i = 0; i < n * per; i++) {
  const v = Math.fround(images.data[i] / 255);
  x[i] = Math.fround(Math.fround(v - mean) / std);
}
const session = await ort.InferenceSession.create(modelPath, {
  executionProviders: ['cpu'],
  intraOpNumThreads: opt.threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: opt.opt, // 'all' (default), 'extended', 'basic' or 'disabled'
  ...(opt['save-optimized'] ? { optimizedModelFilePath: opt['save-optimized'] } : {}),
});
const inName = session.inputNames[0], outName = session.outputNames[0];
let correct = 0, seconds = 0;
const dump = opt.dump ? [] : null;
for (let at = 0; at < n; at += opt.batch) {
  const nb = Math.min(opt.batch, n - at);
  const t = new ort.Tensor('float32', x.subarray(at * per, (at + nb) * per), [nb, 1, h, w]);
  const t0 = process.hrtime.bigint();
  const out = await session.run({ [inName]: t });
  seconds += Number(process.hrtime.bigint() - t0) / 1e9;
  const logits = out[outName].data, classes = logits.length / nb;
  if (dump) dump.push(Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
  for (let i = 0; i < nb; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    if (best === labels.data[at + i]) correct++;
  }
}
if (dump) fs.writeFileSync(opt.dump, Buffer.concat(dump));
console.log(JSON.stringify({ model: modelPath, images: n, correct, top1: correct / n, seconds,
  images_per_second: n / seconds, batch: opt.batch, threads: opt.threads }));
