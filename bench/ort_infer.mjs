// ort_infer.mjs — the reference for `ptq infer`: runs an ONNX model in onnxruntime-node
// (CPU) on a float32 .npy input and writes every output as float32 .npy into OUT_DIR
// (named like `ptq infer --all-outputs`: the output name with characters outside
// [A-Za-z0-9._-] replaced by '_'), and prints one JSON line
// {model, outputs: [{name, shape, file}], seconds, runs, threads}.
// `--repeat N` runs the whole input N times and reports the median seconds per run
// (session.run only), for throughput comparisons.
//
// `--compare DIR` also reads DIR/<name>.npy for every output (e.g. what
// `ptq infer --all-outputs DIR` wrote) and adds to each output `max_rel_err` (max over
// elements of |ort - other|, divided by the largest |ort|) and `sqnr_db` of the other
// against onnxruntime's (10 log10(sum ort^2 / sum (ort - other)^2)).
//
// usage: node ort_infer.mjs MODEL INPUT.npy OUT_DIR [--threads 2] [--repeat 1]
//        [--opt all|basic|disabled] [--compare DIR]
//        node ort_infer.mjs --make-input N,C,H,W FILE.npy [--seed 0]
//        (writes uniform [0, 1) float32 test inputs, the same for the same seed anywhere)
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hoff = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hoff, hoff + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: needs float32 ('<f4') data`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map(s => s.trim())
    .filter(s => s.length).map(Number);
  const off = hoff + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { shape, data };
}

function writeNpy(file, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'), body]));
}

const args = process.argv.slice(2);
if (args[0] === '--make-input') {
  const shape = args[1].split(',').map(Number);
  const seedAt = args.indexOf('--seed');
  let a = seedAt > 0 ? Number(args[seedAt + 1]) >>> 0 : 0;
  const n = shape.reduce((p, d) => p * d, 1), data = new Float32Array(n);
  for (let i = 0; i < n; i++) { // mulberry32
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  writeNpy(args[2], shape, data);
  process.exit(0);
}
const opt = { threads: 2, repeat: 1, opt: 'all', compare: '' };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) {
    const k = args[i].slice(2);
    if (!(k in opt)) throw new Error(`unknown option ${args[i]}`);
    opt[k] = (k === 'opt' || k === 'compare') ? args[++i] : Number(args[++i]);
  } else pos.push(args[i]);
}
const [modelPath, inputPath, outDir] = pos;
const x = readNpy(inputPath);
const session = await ort.InferenceSession.create(modelPath, {
  executionProviders: ['cpu'], intraOpNumThreads: opt.threads, interOpNumThreads: 1,
  graphOptimizationLevel: opt.opt,
});
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
let result;
const times = [];
for (let r = 0; r < Math.max(1, opt.repeat); r++) {
  const t0 = process.hrtime.bigint();
  result = await session.run(feeds);
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
times.sort((a, b) => a - b);
fs.mkdirSync(outDir, { recursive: true });
const outputs = [];
for (const name of session.outputNames) {
  const t = result[name];
  const file = path.join(outDir, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy');
  writeNpy(file, t.dims, Float32Array.from(t.data));
  const o = { name, shape: t.dims, file };
  if (opt.compare) {
    const other = readNpy(path.join(opt.compare, path.basename(file)));
    if (other.shape.join(',') !== t.dims.join(','))
      throw new Error(`${name}: shape [${other.shape}] in ${opt.compare}, onnxruntime's is [${t.dims}]`);
    let maxRef = 0, maxErr = 0, sig = 0, noise = 0;
    for (let i = 0; i < t.data.length; i++) {
      const a = t.data[i], b = other.data[i], e = Math.abs(a - b);
      maxRef = Math.max(maxRef, Math.abs(a));
      maxErr = Math.max(maxErr, Number.isNaN(e) ? Infinity : e);
      sig += a * a; noise += (a - b) * (a - b);
    }
    o.max_rel_err = maxRef > 0 ? maxErr / maxRef : maxErr;
    o.sqnr_db = noise > 0 ? 10 * Math.log10(sig / noise) : null;
  }
  outputs.push(o);
}
console.log(JSON.stringify({ model: modelPath, outputs, seconds: times[times.length >> 1],
                             runs: times.length, threads: opt.threads }));
