#!/usr/bin/python3
"""Trains and exports math_rowvit_fmnist.onnx: a tiny transformer over the 28 rows of a
Fashion-MNIST image (committed; the tests need no Python).  Needs Debian's python3-torch
and python3-onnx:  cd tests/data && /usr/bin/python3 make_rowvit.py

It is a real torch.onnx.export (opset 13) of what the issue calls an attention-based
recogniser, so the file holds PyTorch's own export patterns: the class token's
expand(batch, -1, -1) (Shape, Gather, Concat, ConstantOfShape, Equal, Where, Expand),
nn.LayerNorm written as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, GELU through
Erf, masked_fill through Where, and mean pooling through ReduceMean.  Trained for one short
epoch: accurate enough that top-1 comparisons between runtimes mean something, not tuned.
The float top-1 torch measures on the first 1000 test images is written into the model's
metadata (qcraft.test.torch_top1_1000) and into the sidecar math_rowvit_fmnist.json, for
the e2e test (tests/e2e/math_models.sh) to compare with ptq eval."""
import gzip

import numpy as np
import onnx
import torch
from torch import nn

torch.manual_seed(20261206)
DATA = '/usr/share/datasets/fashion-mnist/'
MEAN, STD = 0.286, 0.353


def idx(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    rank = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(rank)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def prep(images):
    return torch.from_numpy(((images.astype(np.float32) / 255.0) - MEAN) / STD).unsqueeze(1)


class RowViT(nn.Module):
    def __init__(self, d=32, ff=64, classes=10):
        super().__init__()
        self.embed = nn.Linear(28, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.ln1 = nn.LayerNorm(d)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)
        self.head = nn.Linear(d, classes)
        self.d = d
        # Each row attends to itself and the rows above it (and the class token).
        self.register_buffer('mask', torch.tril(torch.ones(29, 29, dtype=torch.bool)))

    def forward(self, x):  # [N, 1, 28, 28]
        t = self.embed(x.reshape(-1, 28, 28))  # [N, 28, d]: the rows as tokens
        t = torch.cat([self.cls.expand(x.size(0), -1, -1), t], dim=1)
        a = self.ln1(t)
        q, k, v = self.q(a), self.k(a), self.v(a)
        s = q @ k.transpose(1, 2) / (self.d ** 0.5)
        s = s.masked_fill(~self.mask, -1e4)
        t = t + self.proj(s.softmax(-1) @ v)
        t = t + self.fc2(nn.functional.gelu(self.fc1(self.ln2(t))))
        return self.head(t.mean(1))


def main():
    xtr, ytr = prep(idx(DATA + 'train-images-idx3-ubyte.gz')), torch.from_numpy(idx(DATA + 'train-labels-idx1-ubyte.gz').astype(np.int64))
    xte, yte = prep(idx(DATA + 't10k-images-idx3-ubyte.gz')[:1000]), torch.from_numpy(idx(DATA + 't10k-labels-idx1-ubyte.gz')[:1000].astype(np.int64))
    m = RowViT()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    perm = torch.randperm(xtr.shape[0])
    for step in range(400):
        b = perm[step * 128:(step + 1) * 128]
        loss = nn.functional.cross_entropy(m(xtr[b]), ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        top1 = (m(xte).argmax(1) == yte).float().mean().item()
    print('torch top-1 on 1000 test images: %.3f' % top1)
    torch.onnx.export(m, xte[:2], 'math_rowvit_fmnist.onnx', opset_version=13,
                      input_names=['image'], output_names=['logits'],
                      dynamic_axes={'image': {0: 'N'}, 'logits': {0: 'N'}})
    model = onnx.load('math_rowvit_fmnist.onnx')
    for k, v in (('qcraft.normalize.mean', str(MEAN)), ('qcraft.normalize.std', str(STD)),
                 ('qcraft.test.torch_top1_1000', '%.3f' % top1)):
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, 'math_rowvit_fmnist.onnx')
    # The sidecar ptq run reads the normalization from (as for the bundled models).
    with open('math_rowvit_fmnist.json', 'w') as f:
        f.write('{\n "arch": "rowvit", "mean": %g, "std": %g, "torch_top1_1000": %.3f\n}\n' % (MEAN, STD, top1))


main()
