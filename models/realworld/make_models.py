#!/usr/bin/python3
"""Builds, trains and exports the "real-world" models: three architectures of the kinds
deployed today, built from the ops their exporters emit, so that qcraft meets the same
graphs a user brings (dynamic height/width, Resize/Upsample, ConvTranspose, attention with
LayerNorm and GELU, shape arithmetic).  Nobody outside trained them either: they are small,
trained here for a few minutes on Fashion-MNIST material (MIT licence, Debian package
dataset-fashion-mnist), and the point is their graphs, not their accuracy.

  textdet     DBNet-style text/object detector: conv backbone (1/4 .. 1/16), FPN with
              nearest Resize to the skip's size (Shape arithmetic) and bilinear x2, a
              probability head upsampled by two ConvTranspose, and DBNet's approximate
              binarisation 1/(1+exp(-k(P-T))) written out (Neg, Exp, Reciprocal).
              Input N x 3 x H x W (H, W dynamic, multiples of 16); output N x 1 x H x W and
              N x 1 x H x W (probability map, binary map).  Exported at opset 11, and at
              opset 9 (Upsample, Slice attributes) as textdet_op9.onnx.
  convnext    ConvNeXt-style classifier: 7x7 depthwise convs, LayerNorm over channels
              (Transpose -> LayerNormalization -> Transpose), GELU (Erf), squeeze-excitation
              by ReduceMean, global mean, LayerNorm, Linear.  Input N x 1 x H x W (dynamic),
              output N x 10 logits.  Opset 13 (LayerNorm as the ReduceMean/Pow/Sqrt pattern).
  seqrec      sequence recogniser with attention: conv backbone over a text line
              (N x 1 x 32 x W, W dynamic, multiple of 32), a learned CLS token (Expand),
              one transformer encoder block with a local-attention mask built from the
              sequence length (Range, Where), GELU, LayerNorm; output N x T x 10, T = W / 8.
              Exported at opset 17 (native LayerNormalization) and opset 13 (seqrec_op13).

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy).  Deterministic:
seed 0.  Also writes the example image set (examples/data/scenes/) and the
recogniser's sample lines (seqrec_calib.npy, seqrec_eval.npy); `make_models.py samples` writes only those."""
import gzip, os, struct, sys, zlib, math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FMNIST = "/usr/share/datasets/fashion-mnist"
STEPS = int(os.environ.get("STEPS", "600"))


def idx(name):
    with gzip.open(os.path.join(FMNIST, name)) as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


TRAIN_X, TRAIN_Y = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
TEST_X, TEST_Y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------- synthetic scenes ----
def scene(rng, h, w, src, noise=0.03):
    """An RGB scene: a smooth random background with 2-5 coloured Fashion-MNIST items at
    random scales and places; the target is the mask of the items' pixels."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((3, h, w), np.float32)
    for c in range(3):
        a, b, d = rng.uniform(0, 1, 3)
        img[c] = 0.25 + 0.5 * (a * yy + b * xx + d) / 3 + rng.normal(0, noise, (h, w))
    mask = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(2, 6)):
        item = src[rng.integers(len(src))].astype(np.float32) / 255
        s = rng.uniform(0.8, 1.7)
        sz = int(28 * s)
        t = torch.from_numpy(item)[None, None]
        item = F.interpolate(t, size=(sz, sz), mode="bilinear", align_corners=False)[0, 0].numpy()
        y0, x0 = rng.integers(0, h - sz), rng.integers(0, w - sz)
        colour = rng.uniform(0, 1, 3)
        m = item > 0.2
        for c in range(3):
            reg = img[c, y0:y0 + sz, x0:x0 + sz]
            reg[m] = (colour[c] * item + (1 - item) * reg)[m]
        mask[y0:y0 + sz, x0:x0 + sz] = np.maximum(mask[y0:y0 + sz, x0:x0 + sz], m)
    return np.clip(img, 0, 1), mask


def write_png(path, rgb):
    """Minimal RGB8 PNG writer (no PIL in Debian's base python)."""
    h, w = rgb.shape[1:]
    raw = np.transpose((rgb * 255 + 0.5).clip(0, 255).astype(np.uint8), (1, 2, 0))
    rows = b"".join(b"\x00" + raw[y].tobytes() for y in range(h))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# ------------------------------------------------------------------------ textdet ----
def cbr(cin, cout, k=3, s=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TextDet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c2 = nn.Sequential(cbr(3, 16, s=2), cbr(16, 24, s=2))        # 1/4
        self.c3 = nn.Sequential(cbr(24, 24, groups=24), cbr(24, 32, 1), cbr(32, 32, s=2))  # 1/8
        self.c4 = nn.Sequential(cbr(32, 48, s=2), cbr(48, 48))            # 1/16
        self.l2, self.l3, self.l4 = nn.Conv2d(24, 24, 1), nn.Conv2d(32, 24, 1), nn.Conv2d(48, 24, 1)
        self.fuse = cbr(48, 24)
        self.head = nn.Sequential(
            nn.ConvTranspose2d(24, 16, 2, 2), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(16, 2, 2, 2))

    def forward(self, x):
        c2 = self.c2(x)
        c3 = self.c3(c2)
        c4 = self.c4(c3)
        p4 = self.l4(c4)
        p3 = self.l3(c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        p2 = self.l2(c2) + F.interpolate(p3, scale_factor=2.0, mode="bilinear", align_corners=False)
        f = self.fuse(torch.cat([p2, F.interpolate(p3, scale_factor=2.0, mode="nearest")], 1))
        y = self.head(f)
        prob = torch.sigmoid(y[:, 0:1])
        thresh = torch.sigmoid(y[:, 1:2])
        binary = torch.reciprocal(1 + torch.exp(torch.neg(10 * (prob - thresh))))
        return prob, binary


def train_textdet():
    rng = np.random.default_rng(0)
    net = TextDet()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for step in range(STEPS):
        xs, ms = zip(*(scene(rng, 64, 96, TRAIN_X) for _ in range(16)))
        x, m = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms))[:, None]
        prob, binary = net(x)
        loss = F.binary_cross_entropy(prob, m) + 0.5 * F.binary_cross_entropy(binary.clamp(1e-6, 1 - 1e-6), m)
        opt.zero_grad(); loss.backward(); opt.step()
        if step % 100 == 0: print(f"textdet step {step} loss {loss.item():.4f}", flush=True)
    return net.eval()


# ----------------------------------------------------------------------- convnext ----
class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, 1, 3, groups=c)
        self.norm = LayerNorm2d(c)
        self.pw1, self.pw2 = nn.Conv2d(c, 2 * c, 1), nn.Conv2d(2 * c, c, 1)
        self.se1, self.se2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        y = self.pw2(F.gelu(self.pw1(self.norm(self.dw(x)))))
        s = torch.sigmoid(self.se2(F.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        return x + y * s


class ConvNeXt(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 2, 2), LayerNorm2d(32))
        self.s1 = Block(32)
        self.down = nn.Sequential(LayerNorm2d(32), nn.Conv2d(32, 64, 2, 2))
        self.s2 = Block(64)
        self.norm = nn.LayerNorm(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.s2(self.down(self.s1(self.stem(x))))
        return self.fc(self.norm(x.mean((-2, -1))))


def norm_fmnist(x):
    return (x / 255.0 - 0.2860) / 0.3530


def train_classifier(net, steps, batch_fn, name):
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=steps)
    for step in range(steps):
        x, y = batch_fn(step)
        out = net(x)
        loss = F.cross_entropy(out.reshape(-1, 10), y.reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if step % 100 == 0: print(f"{name} step {step} loss {loss.item():.4f}", flush=True)
    return net.eval()


def convnext_batch(step, rng=np.random.default_rng(1)):
    i = rng.integers(0, len(TRAIN_X), 64)
    x = torch.from_numpy(norm_fmnist(TRAIN_X[i].astype(np.float32)))[:, None]
    return x, torch.from_numpy(TRAIN_Y[i].astype(np.int64))


# ------------------------------------------------------------------------- seqrec ----
def strip(rng, src, labels, n_items):
    """A text line: n_items Fashion-MNIST items side by side, each in a 32x32 cell with
    a random vertical jitter; labels per 8-pixel column (the item under it)."""
    img = np.zeros((32, 32 * n_items), np.float32)
    lab = np.zeros(4 * n_items, np.int64)
    for k in range(n_items):
        j = rng.integers(len(src))
        dy, dx = rng.integers(0, 5, 2)
        img[dy:dy + 28, 32 * k + dx:32 * k + dx + 28] = src[j]
        lab[4 * k:4 * k + 4] = labels[j]
    return norm_fmnist(img), lab


class SeqRec(nn.Module):
    def __init__(self, d=64, heads=4):
        super().__init__()
        self.d, self.heads = d, heads
        self.backbone = nn.Sequential(cbr(1, 32, s=2), cbr(32, 48, s=2), cbr(48, d, s=2),
                                      nn.Conv2d(d, d, (4, 1)))           # H 32 -> 1, W / 8
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.out = nn.Linear(d, 10)
        self.register_buffer("cap", torch.full((10,), 30.0))

    def forward(self, x):
        f = self.backbone(x)[:, :, 0, :].transpose(1, 2)                 # N x T x d
        n, t = f.shape[0], f.shape[1]
        f = torch.cat([self.cls.expand(n, -1, -1), f], 1)               # N x (T+1) x d
        q, k, v = self.qkv(self.ln1(f)).split(self.d, dim=-1)
        dh = self.d // self.heads
        q = q.reshape(n, t + 1, self.heads, dh).transpose(1, 2)
        k = k.reshape(n, t + 1, self.heads, dh).transpose(1, 2)
        v = v.reshape(n, t + 1, self.heads, dh).transpose(1, 2)
        att = q @ k.transpose(-2, -1) / math.sqrt(dh)
        pos = torch.arange(t + 1, device=x.device)
        dist = (pos[None, :] - pos[:, None]).float()
        far = (dist * dist) > 64.0                                       # local window of 8
        att = torch.where(far, torch.full_like(att, -1e4), att).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(n, t + 1, self.d)
        f = f + self.proj(o)
        f = f + self.ff2(F.gelu(self.ff1(self.ln2(f))))
        logits = self.out(f[:, 1:])
        return torch.minimum(torch.maximum(logits, -self.cap), self.cap)  # Min/Max clamp


def seqrec_batch(step, rng=np.random.default_rng(2)):
    xs, ys = zip(*(strip(rng, TRAIN_X, TRAIN_Y, 4) for _ in range(32)))
    return torch.from_numpy(np.stack(xs))[:, None], torch.from_numpy(np.stack(ys))


# ------------------------------------------------------------------------- export ----
def export(net, x, path, opset, names, dyn):
    torch.onnx.export(net, x, path, opset_version=opset, input_names=["input"],
                      output_names=names, dynamic_axes=dyn, do_constant_folding=True)
    print("wrote", path, os.path.getsize(path), "bytes")


def write_scenes():
    """The example image set: scenes the detector was not trained on (test-set items,
    another seed), without the background noise of training (PNG size)."""
    rng = np.random.default_rng(12345)
    for split, n in (("calib", 32), ("eval", 16)):
        d = os.path.join(ROOT, "examples", "data", "scenes", split)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            img, _ = scene(rng, 96, 128, TEST_X, noise=0.0)
            write_png(os.path.join(d, f"scene_{i:03d}.png"), img)


def write_strips():
    """Sample inputs for the recogniser: text lines of 4 test-set items, uint8
    N x 32 x 128 (normalise with Fashion-MNIST's mean and std): 32 for calibration
    (seqrec_calib.npy), 16 held out (seqrec_eval.npy)."""
    rng = np.random.default_rng(54321)
    lines = []
    for _ in range(48):
        img = np.zeros((32, 128), np.uint8)
        for k in range(4):
            dy, dx = rng.integers(0, 5, 2)
            img[dy:dy + 28, 32 * k + dx:32 * k + dx + 28] = TEST_X[rng.integers(len(TEST_X))]
        lines.append(img)
    np.save(os.path.join(HERE, "seqrec_calib.npy"), np.stack(lines[:32]))
    np.save(os.path.join(HERE, "seqrec_eval.npy"), np.stack(lines[32:]))


def main():
    out = HERE
    dyn_img = {"input": {0: "batch", 2: "height", 3: "width"}}
    det = train_textdet()
    x = torch.rand(1, 3, 64, 96)
    dyn = dict(dyn_img, prob={0: "batch", 2: "height", 3: "width"},
               binary={0: "batch", 2: "height", 3: "width"})
    export(det, x, f"{out}/textdet.onnx", 11, ["prob", "binary"], dyn)
    export(det, x, f"{out}/textdet_op9.onnx", 9, ["prob", "binary"], dyn)

    cnx = train_classifier(ConvNeXt(), STEPS, convnext_batch, "convnext")
    with torch.no_grad():
        xt = torch.from_numpy(norm_fmnist(TEST_X[:2000].astype(np.float32)))[:, None]
        acc = (cnx(xt).argmax(1).numpy() == TEST_Y[:2000]).mean()
    print(f"convnext top-1 on 2000 test images: {acc:.4f}")
    export(cnx, torch.rand(1, 1, 28, 28), f"{out}/convnext.onnx", 13, ["logits"],
           dict(dyn_img, logits={0: "batch"}))

    seq = train_classifier(SeqRec(), STEPS, seqrec_batch, "seqrec")
    xs = torch.rand(1, 1, 32, 128)
    dyn = dict(dyn_img, logits={0: "batch", 1: "steps"})
    export(seq, xs, f"{out}/seqrec.onnx", 17, ["logits"], dyn)
    export(seq, xs, f"{out}/seqrec_op13.onnx", 13, ["logits"], dyn)

    write_scenes()
    write_strips()


if __name__ == "__main__":
    if sys.argv[1:] == ["samples"]:
        write_scenes()
        write_strips()
    else:
        main()
