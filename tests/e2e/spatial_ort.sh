#!/usr/bin/env bash
# spatial_ort.sh — the QDQ export of a model with the spatial ops (tests/data/
# spatial_quant.onnx: ConvTranspose -> BatchNormalization folded, Slice, Resize with sizes
# holding the batch, Split) in onnxruntime: it must load and compute what qcraft's
# simulation computed, with onnxruntime's graph optimisation off and fully on (its QDQ
# fusions).  And the float export of spatial_opset13.onnx (linear Resize, ConvTranspose
# with output_padding, Split) must compute what PyTorch computed for the fixture.
# test_spatial writes the exports, the input and qcraft's output (PTQ_SPATIAL_KEEP);
# onnxruntime-node runs them.  Skipped, with the reason, where node or
# onnxruntime-node is not available.
# usage: spatial_ort.sh PTQ_BINARY SOURCE_DIR TEST_SPATIAL_BINARY
. "$(dirname "$0")/lib.sh"
TEST_SPATIAL=${3:?usage: $0 PTQ_BINARY SOURCE_DIR TEST_SPATIAL_BINARY}
ORT=$SRC/bench/node_modules/onnxruntime-node
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: node is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
if [ ! -d "$ORT" ]; then
    echo "skipped: $ORT is missing (cd bench && npm install --ignore-scripts)"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
if ! out=$(PTQ_SPATIAL_KEEP=$TMP "$TEST_SPATIAL" 2>&1) || [ ! -f "$TMP/model.qdq.onnx" ] ||
   [ ! -f "$TMP/opset13.onnx" ]; then
    bad "test_spatial did not export the model: $out"
    finish
    exit
fi
cat > "$TMP/check.mjs" <<'JS'
import fs from 'node:fs';
import { createRequire } from 'node:module';
const ort = createRequire(process.argv[3] + '/')('onnxruntime-node');
const dir = process.argv[2];
const f32 = (p) => { const b = fs.readFileSync(p); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)); };
const x = f32(`${dir}/x.f32`), want = f32(`${dir}/y.f32`);
for (const level of ['disabled', 'all']) {
  const s = await ort.InferenceSession.create(`${dir}/model.qdq.onnx`, { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  const out = await s.run({ x: new ort.Tensor('float32', x, [x.length / 64, 1, 8, 8]) });
  const y = out[s.outputNames[0]].data;
  let worst = y.length === want.length ? 0 : Infinity;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(y[i] - want[i]) / (1e-3 + Math.abs(want[i])));
  console.log(`quantized-${level} ${worst}`);
}
// The float fixture as qcraft exports it, against what PyTorch computed for it.
const npy = (p) => {
  const b = fs.readFileSync(p), hl = b.readUInt16LE(8), head = b.toString('latin1', 10, 10 + hl);
  const shape = head.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((v) => v.trim()).map(Number);
  const d = b.subarray(10 + hl);
  return { shape, data: new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.length)) };
};
const data = process.argv[4];
const fx = npy(`${data}/spatial_opset13_x.npy`);
const s = await ort.InferenceSession.create(`${dir}/opset13.onnx`, { intraOpNumThreads: 1 });
const out = await s.run({ x: new ort.Tensor('float32', fx.data, fx.shape) });
let worst = 0;
for (const name of ['y0', 'y1', 'z']) {
  const want = npy(`${data}/spatial_opset13_${name}.npy`).data, y = out[name].data;
  if (y.length !== want.length) worst = Infinity;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(y[i] - want[i]) / (1e-3 + Math.abs(want[i])));
}
console.log(`float-export ${worst}`);
JS
if ! o=$(node "$TMP/check.mjs" "$TMP" "$SRC/bench/node_modules" "$SRC/tests/data" 2>&1); then
    bad "onnxruntime did not run the export: $o"
else
    while read -r level worst; do
        # One quantization step of these outputs is ~1e-2 relative: 1e-3 is float rounding.
        if awk -v w="$worst" 'BEGIN { exit !(w <= 1e-3) }'; then
            ok "onnxruntime ($level) computes the expected result (worst relative error $worst)"
        else
            bad "onnxruntime ($level) differs: worst relative error $worst"
        fi
    done <<< "$o"
fi
finish
