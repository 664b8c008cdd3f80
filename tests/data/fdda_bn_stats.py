#!/usr/bin/python3
"""tests/data/fdda_bn_stats.py - the reference numbers of plugin.fdda's BN-statistic test.

Runs a bundled model as exported (BatchNormalization NOT folded) with torch, on the first
N Fashion-MNIST training images normalized as the model's .json says, and prints, for
the named BN nodes, the per-channel mean and biased variance of each BN's INPUT over
(N, H, W): what fdda.synthesize recovers from the folded layers' outputs.  The C test
holds the printed numbers.

    /usr/bin/python3 tests/data/fdda_bn_stats.py models/resnet20_fmnist.onnx 8 4
Requires Debian's python3-torch, python3-onnx, python3-numpy.
"""
import gzip
import json
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

path, n, channels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
side = json.load(open(path[:-5] + ".json"))
norm = side.get("normalize", side)
mean, std = float(np.ravel(norm["mean"])[0]), float(np.ravel(norm["std"])[0])
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
x = (torch.tensor(raw, dtype=torch.float32) / 255.0 - mean) / std

m = onnx.load(path)
vals = {t.name: torch.tensor(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
vals[m.graph.input[0].name] = x
stats = []
for nd in m.graph.node:
    a = {at.name: onnx.helper.get_attribute_value(at) for at in nd.attribute}
    i = [vals[k] if k else None for k in nd.input]
    op = nd.op_type
    if op == "Conv":
        p = a.get("pads", [0, 0, 0, 0])
        y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]),
                     (p[0], p[1]), a.get("dilations", [1, 1]), a.get("group", 1))
    elif op == "BatchNormalization":
        xin = i[0].double()
        stats.append((nd.name, xin.mean((0, 2, 3)), xin.var((0, 2, 3), unbiased=False)))
        y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
    elif op == "Relu": y = F.relu(i[0])
    elif op == "Clip": y = torch.clamp(i[0], float(i[1]), float(i[2]))
    elif op == "Add": y = i[0] + i[1]
    elif op == "Identity": y = i[0]
    elif op == "GlobalAveragePool": y = i[0].mean((2, 3), keepdim=True)
    elif op == "Flatten": y = torch.flatten(i[0], a.get("axis", 1))
    elif op == "MaxPool": y = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides"))
    elif op == "Constant": y = torch.tensor(numpy_helper.to_array(a["value"]).copy())
    elif op == "Gemm":
        y = i[0] @ (i[1].t() if a.get("transB", 0) else i[1]) + i[2]
    else: raise SystemExit("op %s not handled" % op)
    vals[nd.output[0]] = y
L = len(stats)
for k in (0, L // 2, L - 1):
    name, mu, var = stats[k]
    print('{"%s", {%s}, {%s}},' % (name, ", ".join("%.7g" % v for v in mu[:channels]),
                                   ", ".join("%.7g" % v for v in var[:channels])))
