"""make_seeds.py OUT_DIR — the seeds that need writing, not copying: .npy and IDX files of
every element type and layout the readers accept (and a few they refuse), and small QDQ
models in each form QuantizeLinear/DequantizeLinear take (per tensor and per channel,
uint8/int8/int16, with and without zero points, opset 10 to 21).  Run with Debian's
/usr/bin/python3 (numpy, onnx).  make_seeds.sh calls it."""
import gzip
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(0)


def put(sub, name, data):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
    with open(os.path.join(out, sub, name), "wb") as f:
        f.write(data)


# ---- .npy ------------------------------------------------------------------------------
def npy_bytes(arr, version=None):
    import io
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


put("npy", "f32_nchw.npy", npy_bytes(rng.standard_normal((2, 1, 3, 3)).astype("<f4")))
put("npy", "u8_nhw.npy", npy_bytes(rng.integers(0, 255, (3, 4, 4)).astype("u1")))
put("npy", "f64.npy", npy_bytes(rng.standard_normal((2, 2)).astype("<f8")))
put("npy", "i64_labels.npy", npy_bytes(np.arange(5, dtype="<i8")))
put("npy", "i32_labels.npy", npy_bytes(np.arange(4, dtype="<i4")))
put("npy", "f32_big_endian.npy", npy_bytes(np.ones((2, 3), dtype=">f4")))
put("npy", "f32_fortran.npy", npy_bytes(np.asfortranarray(np.ones((2, 3), dtype="<f4"))))
put("npy", "v2_header.npy", npy_bytes(np.zeros((1, 2), dtype="<f4"), version=(2, 0)))
put("npy", "scalar.npy", npy_bytes(np.float32(3.5)))
put("npy", "empty.npy", npy_bytes(np.zeros((0, 3), dtype="<f4")))
put("npy", "bool.npy", npy_bytes(np.array([True, False])))
put("npy", "f16.npy", npy_bytes(np.ones(3, dtype="<f2")))


# ---- IDX -------------------------------------------------------------------------------
def idx_bytes(arr, code):
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


imgs = rng.integers(0, 255, (3, 5, 4)).astype("u1")
labels = np.array([1, 0, 9], dtype="u1")
for name, arr, code in [("images_u8", imgs, 0x08), ("labels_u8", labels, 0x08),
                        ("i8", imgs.astype("i1"), 0x09), ("i16", imgs.astype(">i2"), 0x0B),
                        ("i32", imgs.astype(">i4"), 0x0C), ("f32", imgs.astype(">f4"), 0x0D),
                        ("f64", labels.astype(">f8"), 0x0E)]:
    data = idx_bytes(arr, code)
    put("idx", name + ".idx", data)
    if name in ("images_u8", "labels_u8", "f32"):
        put("idx", name + ".idx.gz", gzip.compress(data, mtime=0))
put("idx", "truncated.idx", idx_bytes(imgs, 0x08)[:-7])
put("idx", "trailing.idx.gz", gzip.compress(idx_bytes(labels, 0x08) + b"\0\0", mtime=0))


# ---- QDQ models --------------------------------------------------------------------------
def qdq_model(name, opset, wtype, atype, per_channel, zero_points=True, op="Conv"):
    nodes, inits = [], []
    cout, cin = 4, 2
    w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) if op == "Conv" else \
        rng.standard_normal((cin * 9, cout)).astype(np.float32)
    wq_np = {TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.INT16: np.int16,
             TensorProto.UINT16: np.uint16}
    lim = 127 if wtype == TensorProto.INT8 else 255 if wtype == TensorProto.UINT8 else 30000
    lo = 0 if wtype in (TensorProto.UINT8, TensorProto.UINT16) else -lim
    axis = 0 if op == "Conv" else 1
    nch = w.shape[axis]
    ws = (np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis)) / lim).astype(np.float32)
    ws_shape = [1] * w.ndim
    ws_shape[axis] = nch
    wq = np.clip(np.round(w / ws.reshape(ws_shape)), lo, lim).astype(wq_np[wtype])
    inits.append(numpy_helper.from_array(wq, "w_q"))
    inits.append(numpy_helper.from_array(ws if per_channel else np.array(ws.max(), np.float32), "w_s"))
    if zero_points:
        zshape = (nch,) if per_channel else ()
        inits.append(numpy_helper.from_array(np.zeros(zshape, wq_np[wtype]), "w_z"))
    attrs = {"axis": axis} if per_channel else {}
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_s"] + (["w_z"] if zero_points else []),
                                  ["w"], name="w_dq", **attrs))
    ascale = np.array(0.02, np.float32)
    inits.append(numpy_helper.from_array(ascale, "x_s"))
    if zero_points:
        inits.append(numpy_helper.from_array(np.array(128 if atype == TensorProto.UINT8 else 0,
                                                      wq_np[atype]), "x_z"))
    zp = ["x_z"] if zero_points else []
    nodes.append(helper.make_node("QuantizeLinear", ["x", "x_s"] + zp, ["x_q"], name="x_q"))
    nodes.append(helper.make_node("DequantizeLinear", ["x_q", "x_s"] + zp, ["x_dq"], name="x_dq"))
    inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
    if op == "Conv":
        nodes.append(helper.make_node("Conv", ["x_dq", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1]))
        xshape, yshape = ["N", cin, 6, 6], ["N", cout, 6, 6]
    else:
        nodes.append(helper.make_node("Flatten", ["x_dq"], ["xf"], name="flat"))
        nodes.append(helper.make_node("Gemm", ["xf", "w", "b"], ["y"], name="gemm"))
        xshape, yshape = ["N", cin, 3, 3], ["N", cout]
    nodes.append(helper.make_node("Relu", ["y"], ["r"], name="relu"))
    nodes.append(helper.make_node("QuantizeLinear", ["r", "x_s"] + zp, ["r_q"], name="r_q"))
    nodes.append(helper.make_node("DequantizeLinear", ["r_q", "x_s"] + zp, ["out"], name="r_dq"))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, yshape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="seed")
    m.ir_version = 7 if opset < 19 else 9
    put("qdq", name + ".onnx", m.SerializeToString())


qdq_model("conv_pt_u8", 10, TensorProto.UINT8, TensorProto.UINT8, False)
qdq_model("conv_pc_i8", 13, TensorProto.INT8, TensorProto.UINT8, True)
qdq_model("conv_pc_i8_nozp", 13, TensorProto.INT8, TensorProto.INT8, True, zero_points=False)
qdq_model("gemm_pc_i8", 13, TensorProto.INT8, TensorProto.INT8, True, op="Gemm")
qdq_model("conv_pc_i16", 21, TensorProto.INT16, TensorProto.UINT16, True)
