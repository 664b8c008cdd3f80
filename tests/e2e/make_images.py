#!/usr/bin/python3
"""Fixtures and checks for tests/e2e/infer.sh, with the standard library only.

make_images.py fmnist IDX_IMAGES IDX_LABELS COUNT OUT_DIR
    the first COUNT images as 8-bit grey PNGs OUT_DIR/flat/00000.png..., the same in
    class folders OUT_DIR/classes/<label>/00000.png, and as OUT_DIR/images.npy (uint8
    N x 28 x 28) and OUT_DIR/labels.npy (int64)
make_images.py png OUT.png WIDTH HEIGHT VALUE    one flat grey PNG
make_images.py shape FILE.npy                    prints "dtype shape", e.g. "<f4 64,10"
make_images.py equal A.npy B.npy                 exit 0 when both hold the same bytes
make_images.py correct LOGITS.npy LABELS.npy     prints how many argmaxes equal the labels
"""
import ast
import gzip
import os
import struct
import sys
import zlib


def write_png(path, w, h, pixels):
    """pixels: h * w bytes of grey."""
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))

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
    return dims, data[4 + 4 * nd:]


def write_npy(path, descr, shape, payload):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % s for s in shape))
    total = (10 + len(d) + 1 + 63) // 64 * 64
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", total - 10))
        f.write((d + " " * (total - 10 - len(d) - 1) + "\n").encode())
        f.write(payload)


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    hl = struct.unpack("<H", data[8:10])[0]
    hdr = ast.literal_eval(data[10:10 + hl].decode())
    return hdr["descr"], hdr["shape"], data[10 + hl:]


def fmnist(images, labels, count, out):
    (_, h, w), px = read_idx(images)
    _, lab = read_idx(labels)
    os.makedirs(out + "/flat", exist_ok=True)
    for i in range(count):
        img = px[i * h * w:(i + 1) * h * w]
        write_png("%s/flat/%05d.png" % (out, i), w, h, img)
        d = "%s/classes/%d" % (out, lab[i])
        os.makedirs(d, exist_ok=True)
        write_png("%s/%05d.png" % (d, i), w, h, img)
    write_npy(out + "/images.npy", "|u1", (count, h, w), px[:count * h * w])
    write_npy(out + "/labels.npy", "<i8", (count,), struct.pack("<%dq" % count, *lab[:count]))


def correct(logits, labels):
    descr, (n, k), data = read_npy(logits)
    assert descr == "<f4"
    v = struct.unpack("<%df" % (n * k), data)
    _, _, ld = read_npy(labels)
    lab = struct.unpack("<%dq" % n, ld[:8 * n])
    return sum(1 for i in range(n) if max(range(k), key=lambda j: v[i * k + j]) == lab[i])


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "fmnist":
        fmnist(a[2], a[3], int(a[4]), a[5])
    elif a[1] == "png":
        w, h = int(a[3]), int(a[4])
        write_png(a[2], w, h, bytes([int(a[5])]) * (w * h))
    elif a[1] == "shape":
        descr, shape, _ = read_npy(a[2])
        print(descr, ",".join(str(s) for s in shape))
    elif a[1] == "equal":
        sys.exit(0 if read_npy(a[2]) == read_npy(a[3]) else 1)
    elif a[1] == "correct":
        print(correct(a[2], a[3]))
    else:
        sys.exit("unknown command " + a[1])
