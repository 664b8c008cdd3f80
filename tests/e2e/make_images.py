#!/usr/bin/python3
"""Fixtures for tests/e2e/infer.sh, written with the standard library and numpy only.

make_images.py fmnist IDX_IMAGES IDX_LABELS COUNT OUT_DIR
    the first COUNT images as 8-bit grey PNGs OUT_DIR/flat/00000.png..., the same in
    class folders OUT_DIR/classes/<label>/00000.png, and as OUT_DIR/images.npy (uint8
    N x 28 x 28) and OUT_DIR/labels.npy (int64)
make_images.py png OUT.png WIDTH HEIGHT VALUE
    one flat grey PNG
make_images.py symbolic OUT.onnx
    Conv(1->4, 3x3, pad 1) -> GlobalAveragePool -> Flatten on input
    ['N', 1, 'height', 'width']: a model of symbolic size
"""
import gzip
import struct
import sys
import zlib

import numpy as np


def write_png(path, img):
    """img: H x W uint8 (grey)."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data[4 + 4 * nd:], dtype=np.uint8).reshape(dims)


def fmnist(images, labels, count, out):
    import os
    x = read_idx(images)[:count]
    y = read_idx(labels)[:count]
    os.makedirs(out + "/flat", exist_ok=True)
    for i in range(count):
        write_png("%s/flat/%05d.png" % (out, i), x[i])
        d = "%s/classes/%d" % (out, y[i])
        os.makedirs(d, exist_ok=True)
        write_png("%s/%05d.png" % (d, i), x[i])
    np.save(out + "/images.npy", x)
    np.save(out + "/labels.npy", y.astype(np.int64))


def symbolic(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["c"], ["p"]),
         helper.make_node("Flatten", ["p"], ["y"])],
        "symbolic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


if __name__ == "__main__":
    if sys.argv[1] == "fmnist":
        fmnist(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "png":
        v = np.full((int(sys.argv[4]), int(sys.argv[3])), int(sys.argv[5]), np.uint8)
        write_png(sys.argv[2], v)
    elif sys.argv[1] == "symbolic":
        symbolic(sys.argv[2])
    else:
        sys.exit("unknown fixture " + sys.argv[1])
