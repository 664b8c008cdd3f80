#!/usr/bin/python3
"""bench/adaround_torch.py — a PyTorch reference of ptq's AdaRound layer loop.

The C pass `adaround.reconstruct` (granularity: layer) is benchmarked against this
script: same model, same BN folding, same weight grids, same calibration images, same
loss, schedule and optimiser, written independently in PyTorch.  The only intended
differences are the random minibatch draws (torch's generator here, ptq's splitmix64
there) and floating-point summation order.

    /usr/bin/python3 bench/adaround_torch.py --model models/resnet20_fmnist.onnx \
        --init runs/x/model.qdq.onnx --iterations 1000 --threads 2

--init is ptq's round-to-nearest export (`ptq run` of a pipeline with `passes: []` and
`output: {onnx: true}`), with its report.json beside it.  The weight grids (per output
channel scale and zero point) are read from that export and kept fixed; the float
weights are the source model's, BN-folded here exactly as ptq folds them (in double,
rounded to float).  Activation quantizers present in the export (for instance 8-bit
inputs of the first and last layer) are applied where the export puts them.

The loop (METHODS.md 0.4, 0.6 and card 3; what the C pass implements): for every Conv/Gemm
with a quantized weight, in topological order, the unit is the layer plus the activation
that alone reads its output.  Cache the layer's input from the quantized model (earlier
layers hardened) and the unit's output from the float model over the calibration set;
then T steps of Adam on V, batch drawn with replacement, loss = sum over channels, mean
over batch and positions of the squared error, plus lambda * sum(1 - |2h(V) - 1|^beta)
from step 0.2T on (0-based steps, as ptq counts), beta linear 20 -> 2; harden with V >= 0.

Prints one JSON line: model, top1_float, top1_rtn (this script's round-to-nearest),
top1_rtn_ptq (ptq's report for --init), top1 (after AdaRound), seconds_recon (all layers,
caching included), seconds_total, iterations, and the settings.  Per-layer progress goes
to stderr with --verbose.

Requires Debian's python3-torch, python3-onnx and python3-numpy (run with /usr/bin/python3).
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

DATA = "/usr/share/datasets/fashion-mnist"
ZETA, GAMMA = 1.1, -0.1          # AdaRound's stretch of the sigmoid (METHODS.md 0.4)
ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh")


# ---- data ---------------------------------------------------------------------------------

def read_idx(path):
    """An IDX file (MNIST family, gzip or plain) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit("%s: not an unsigned-byte IDX file" % path)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(path, count, mean, std):
    """The first `count` images (0: all) as N x 1 x H x W float32, in torchvision's order
    of float32 operations (x / 255, then (x - mean) / std), which ptq also follows, so the
    inputs agree bit for bit."""
    x = read_idx(path)
    if count:
        x = x[:count]
    x = torch.from_numpy(x.astype(np.float32)).unsqueeze(1) / 255.0
    return (x - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(std, dtype=torch.float32)


# ---- the graph ----------------------------------------------------------------------------

class Node:
    def __init__(self, op, name, inputs, outputs, attrs):
        self.op, self.name, self.inputs, self.outputs, self.attrs = op, name, inputs, outputs, attrs


def load_graph(path):
    """(nodes, constants, graph input name, graph output names) of an ONNX file.  Constant
    nodes (and Identity nodes of constants) become constants; every tensor is kept as
    numpy so folding can work in double."""
    m = onnx.load(path)
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant":
            if "value" not in attrs:
                sys.exit("%s: Constant '%s' without a tensor value" % (path, n.name))
            consts[n.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if n.op_type == "Identity" and n.input[0] in consts:
            # PyTorch's exporter aliases shared parameters this way (resnet20's BN biases).
            consts[n.output[0]] = consts[n.input[0]]
            continue
        nodes.append(Node(n.op_type, n.name, list(n.input), list(n.output), attrs))
    inputs = [i.name for i in m.graph.input if i.name not in consts]
    if len(inputs) != 1:
        sys.exit("%s: expected one graph input, found %s" % (path, inputs))
    return nodes, consts, inputs[0], [o.name for o in m.graph.output]


def readers(nodes, value):
    return [n for n in nodes if value in n.inputs]


def fold_bn(nodes, consts, outputs):
    """Folds every BatchNormalization that alone reads a Conv/Gemm's output into it, as
    ptq's core.fold_bn does (and in the same arithmetic: the factor g / sqrt(var + eps)
    and both products in double, rounded to float32 once), so the float weights here are
    the ones ptq's grids were computed from.  The layer then writes the BN's output."""
    kept = []
    producer = {o: n for n in nodes for o in n.outputs}
    for n in nodes:
        if n.op != "BatchNormalization":
            kept.append(n)
            continue
        p = producer.get(n.inputs[0])
        if (p is None or p.op not in ("Conv", "Gemm") or len(readers(nodes, n.inputs[0])) != 1
                or n.inputs[0] in outputs):
            sys.exit("BatchNormalization '%s' does not follow a Conv/Gemm it alone reads; "
                     "ptq would keep it, this script does not model that" % n.name)
        if p.op == "Gemm" and not p.attrs.get("transB", 0):
            sys.exit("Gemm '%s' without transB before a BN: not supported" % p.name)
        gamma, beta, mean, var = (consts[v].astype(np.float64) for v in n.inputs[1:5])
        eps = float(np.float32(n.attrs.get("epsilon", 1e-5)))
        a = gamma / np.sqrt(var + eps)
        w = consts[p.inputs[1]].astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        wname, bname = p.name + "/weight_bnfolded", p.name + "/bias_bnfolded"
        consts[wname] = (w * a.reshape(shape)).astype(np.float32)
        if len(p.inputs) > 2 and p.inputs[2]:
            b = consts[p.inputs[2]].astype(np.float64)
            if p.op == "Gemm":
                b = np.broadcast_to(b * float(np.float32(p.attrs.get("beta", 1.0))), a.shape)
        else:
            b = np.zeros_like(a)
        consts[bname] = ((b - mean) * a + beta).astype(np.float32)
        p.inputs = [p.inputs[0], wname, bname]
        if p.op == "Gemm":
            p.attrs["beta"] = 1.0
        p.outputs = [n.outputs[0]]
    return kept


def clip_bounds(node, consts):
    """Clip's (min, max): inputs since opset 11, attributes before."""
    lo, hi = node.attrs.get("min", -math.inf), node.attrs.get("max", math.inf)
    if len(node.inputs) > 1 and node.inputs[1]:
        lo = float(consts[node.inputs[1]])
    if len(node.inputs) > 2 and node.inputs[2]:
        hi = float(consts[node.inputs[2]])
    return lo, hi


def pool_padding(node, x):
    """Pads x for a 2-D pool when ONNX's pads are asymmetric; returns (x, symmetric pads)."""
    pads = node.attrs.get("pads", [0, 0, 0, 0])
    if node.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        sys.exit("%s: auto_pad is not supported here" % node.name)
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return x, (pads[0], pads[1])
    fill = -math.inf if node.op == "MaxPool" else 0.0
    return F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=fill), (0, 0)


def conv(node, x, w, b):
    a = node.attrs
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        sys.exit("%s: auto_pad is not supported here" % node.name)
    pads = a.get("pads", [0] * (2 * (w.dim() - 2)))
    k = w.dim() - 2
    if list(pads[:k]) != list(pads[k:]):
        x = F.pad(x, [p for i in reversed(range(k)) for p in (pads[i], pads[k + i])])
        pads = [0] * (2 * k)
    fn = F.conv2d if k == 2 else F.conv1d
    return fn(x, w, b, stride=a.get("strides", 1), padding=list(pads[:k]),
              dilation=a.get("dilations", 1), groups=a.get("group", 1))


def gemm(node, x, w, b):
    a = node.attrs
    if a.get("transA", 0):
        x = x.t()
    y = x @ (w.t() if a.get("transB", 0) else w)
    if a.get("alpha", 1.0) != 1.0:
        y = y * a["alpha"]
    if b is not None:
        y = y + (b * a.get("beta", 1.0) if a.get("beta", 1.0) != 1.0 else b)
    return y


def activation(node, x, consts):
    op = node.op
    if op == "Relu":
        return F.relu(x)
    if op == "Clip":
        lo, hi = clip_bounds(node, consts)
        return torch.clamp(x, lo, hi)
    if op == "LeakyRelu":
        return F.leaky_relu(x, node.attrs.get("alpha", 0.01))
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "HardSigmoid":
        return torch.clamp(node.attrs.get("alpha", 0.2) * x + node.attrs.get("beta", 0.5), 0, 1)
    if op == "HardSwish":
        return x * torch.clamp(x / 6 + 0.5, 0, 1)
    if op == "Tanh":
        return torch.tanh(x)
    raise KeyError(op)


class Model:
    """Interprets the BN-folded graph.  Two parameter sets run through the same nodes: the
    float model (float weights, no activation quantizers) and the quantized one (the
    current quantized weight of each layer, activation quantizers from the export)."""

    def __init__(self, nodes, consts, input_name, output_names):
        self.nodes, self.input, self.outputs = nodes, input_name, output_names
        self.np_consts = consts
        self.consts = {k: torch.from_numpy(np.array(v)) for k, v in consts.items()}
        self.wq = {}       # layer name -> quantized weight tensor (when quantized)
        self.aq = {}       # (node name, input index) -> activation fake-quant parameters

    def input_of(self, node, i, env, quant):
        name = node.inputs[i]
        x = env[name] if name in env else self.consts[name]
        q = self.aq.get((node.name, i)) if quant else None
        if q is not None:
            scale, zp, lo, hi = q
            # ONNX QuantizeLinear: round half to even, saturate; ptq simulates the same.
            x = (torch.clamp(torch.round(x / scale) + zp, lo, hi) - zp) * scale
        return x

    def run_node(self, n, env, quant, weight=None):
        """Evaluates node n, reading env; `weight` replaces a Conv/Gemm's weight."""
        get = lambda i: self.input_of(n, i, env, quant)
        op = n.op
        if op in ("Conv", "Gemm"):
            w = weight if weight is not None else (
                self.wq[n.name] if quant and n.name in self.wq else self.consts[n.inputs[1]])
            b = get(2) if len(n.inputs) > 2 and n.inputs[2] else None
            return (conv if op == "Conv" else gemm)(n, get(0), w, b)
        if op in ACTIVATIONS:
            return activation(n, get(0), self.np_consts)
        if op == "Add":
            return get(0) + get(1)
        if op == "Sub":
            return get(0) - get(1)
        if op == "Mul":
            return get(0) * get(1)
        if op == "Div":
            return get(0) / get(1)
        if op == "Identity":
            return get(0)
        if op == "GlobalAveragePool":
            x = get(0)
            return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        if op == "Flatten":
            x = get(0)
            axis = n.attrs.get("axis", 1) % max(x.dim(), 1)
            return x.reshape(int(np.prod(x.shape[:axis])), -1)
        if op == "Reshape":
            if n.inputs[1] not in self.np_consts:
                sys.exit("node '%s': Reshape to a computed shape is not supported" % n.name)
            x, shape = get(0), [int(s) for s in self.np_consts[n.inputs[1]]]
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return x.reshape(shape)
        if op == "MaxPool":
            x, pads = pool_padding(n, get(0))
            return F.max_pool2d(x, n.attrs["kernel_shape"], n.attrs.get("strides", 1), pads,
                                n.attrs.get("dilations", 1), bool(n.attrs.get("ceil_mode", 0)))
        if op == "AveragePool":
            x, pads = pool_padding(n, get(0))
            return F.avg_pool2d(x, n.attrs["kernel_shape"], n.attrs.get("strides", 1), pads,
                                bool(n.attrs.get("ceil_mode", 0)),
                                bool(n.attrs.get("count_include_pad", 0)))
        if op == "GlobalMaxPool":
            x = get(0)
            return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
        if op == "Concat":
            return torch.cat([get(i) for i in range(len(n.inputs))], dim=n.attrs["axis"])
        sys.exit("node '%s': op %s is not interpreted by this script" % (n.name, op))

    def forward(self, x, quant, until=None):
        """Runs the graph on x; with `until` (a node), stops before it and returns env."""
        env = {self.input: x}
        for n in self.nodes:
            if n is until:
                return env
            env[n.outputs[0]] = self.run_node(n, env, quant)
        return env[self.outputs[0]]


def top1(model, images, labels, quant, batch=500):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            logits = model.forward(images[i:i + batch], quant)
            correct += int((logits.argmax(1) == labels[i:i + batch]).sum())
    return correct / len(images)


# ---- the grids from ptq's export ----------------------------------------------------------

def qrange(bits, symmetric):
    """ptq's weight grid: signed, narrow [-(2^(b-1)-1), 2^(b-1)-1] when symmetric,
    [-2^(b-1), 2^(b-1)-1] otherwise (core/src/quant.c ptq_qrange)."""
    qmax = (1 << (bits - 1)) - 1
    return (-qmax if symmetric else -qmax - 1), qmax


INT_RANGE = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127),
             np.dtype(np.uint16): (0, 65535), np.dtype(np.int16): (-32768, 32767)}


def read_export(path):
    """From ptq's QDQ export: per layer (node name) the weight codes, scale and zero point,
    and per (reading node, input index) the activation quantizer, as
    (scale, zero point, qmin, qmax); a Clip after the DequantizeLinear (how ptq exports a
    grid narrower than its integer type) narrows qmin/qmax.  Plus report.json's
    per-layer weight bits and whether weight grids are symmetric."""
    nodes, consts, _, _ = load_graph(path)
    producer = {o: n for n in nodes for o in n.outputs}
    report_path = os.path.join(os.path.dirname(os.path.abspath(path)), "report.json")
    if not os.path.exists(report_path):
        sys.exit("%s: report.json (written by ptq run beside the export) is needed for the "
                 "weight bits" % os.path.dirname(path))
    report = json.load(open(report_path))
    bits = {l["name"]: l["weight_bits"] for l in report["layers"]}
    symmetric = report["config"]["weights"]["symmetric"]
    weights, acts = {}, {}
    for n in nodes:
        if n.op in ("QuantizeLinear", "DequantizeLinear", "Clip"):
            continue
        for i, v in enumerate(n.inputs):
            p = producer.get(v)
            clip = None
            if p is not None and p.op == "Clip" and producer.get(p.inputs[0]) is not None \
                    and producer[p.inputs[0]].op == "DequantizeLinear":
                clip, p = clip_bounds(p, consts), producer[p.inputs[0]]
            if p is None or p.op != "DequantizeLinear":
                continue
            scale = consts[p.inputs[1]].astype(np.float32)
            zp = consts[p.inputs[2]]
            if p.inputs[0] in consts:  # a weight: integer codes stored in the file
                if i != 1 or n.op not in ("Conv", "Gemm"):
                    sys.exit("%s: quantized constant '%s' is not a Conv/Gemm weight" % (path, v))
                if p.attrs.get("axis", 1) != 0 and scale.size > 1:
                    sys.exit("%s: weight '%s' quantized along axis %d; only axis 0 is supported"
                             % (path, v, p.attrs["axis"]))
                if n.name not in bits:
                    sys.exit("%s: layer '%s' is not in report.json" % (path, n.name))
                qmin, qmax = qrange(bits[n.name], symmetric)
                weights[n.name] = dict(codes=consts[p.inputs[0]].astype(np.int64),
                                       scale=scale.reshape(-1), zp=zp.astype(np.int64).reshape(-1),
                                       qmin=qmin, qmax=qmax, bits=bits[n.name])
            else:                      # an activation: QuantizeLinear -> DequantizeLinear
                q = producer.get(p.inputs[0])
                if q is None or q.op != "QuantizeLinear" or scale.size != 1:
                    sys.exit("%s: DequantizeLinear '%s' is not a per-tensor QDQ pair" % (path, p.name))
                lo, hi = INT_RANGE[zp.dtype]
                z = int(zp.reshape(-1)[0])
                s = float(scale.reshape(-1)[0])
                if clip is not None:
                    lo = max(lo, int(round(clip[0] / s)) + z)
                    hi = min(hi, int(round(clip[1] / s)) + z)
                acts[(n.name, i)] = (s, z, lo, hi)
    return weights, acts, report


# ---- AdaRound -----------------------------------------------------------------------------

def h_of(V):
    """h(V) = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1)."""
    return torch.clamp(torch.sigmoid(V) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def beta_at(t, T, warmup=0.2, start=20.0, end=2.0):
    """The regulariser's exponent at 0-based step t (ptq's convention): `start` through the
    warm-up, then linear to `end` at t = T."""
    warm = warmup * T
    if t < warm:
        return start
    rel = (t - warm) / max(T - warm, 1.0)
    return end + (start - end) * max(1.0 - rel, 0.0)


class Grid:
    """One layer's fixed weight grid, shaped to broadcast over the weight (axis 0)."""

    def __init__(self, g, w):
        shape = (-1,) + (1,) * (w.dim() - 1)
        self.s = torch.from_numpy(g["scale"]).reshape(shape)
        self.z = torch.from_numpy(g["zp"].astype(np.float32)).reshape(shape)
        self.qmin, self.qmax = float(g["qmin"]), float(g["qmax"])

    def dequant(self, q):
        return self.s * (torch.clamp(q + self.z, self.qmin, self.qmax) - self.z)


def units_of(model):
    """AdaRound's units in topological order: each Conv/Gemm with a quantized weight, with
    the activation that alone reads its output (the C pass's find_units)."""
    units = []
    for n in model.nodes:
        if n.op not in ("Conv", "Gemm") or n.name not in model.wq:
            continue
        rd = readers(model.nodes, n.outputs[0])
        act = rd[0] if (len(rd) == 1 and rd[0].op in ACTIVATIONS
                        and n.outputs[0] not in model.outputs) else None
        units.append((n, act))
    return units


def cache_unit(model, layer, act, images, batch=256):
    """Over the calibration set: the layer's input in the quantized model (earlier layers
    already hardened, its activation quantizer applied, if any) and the unit's output in
    the float model, the target."""
    xs, ys = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            env = model.forward(x, quant=True, until=layer)
            xs.append(model.input_of(layer, 0, env, quant=True))
            env = model.forward(x, quant=False, until=act if act is not None else layer)
            if act is None:
                env[layer.outputs[0]] = model.run_node(layer, env, quant=False)
                ys.append(env[layer.outputs[0]])
            else:
                ys.append(model.run_node(act, env, quant=False))
    return torch.cat(xs), torch.cat(ys)


def reconstruct(model, layer, act, grid, X, Y, args, gen, log):
    """Learns V for one unit, then hardens the layer's quantized weight in model.wq."""
    W = model.consts[layer.inputs[1]]
    Wfloor = torch.floor(W / grid.s)
    frac = W / grid.s - Wfloor
    # h(V) = frac at the start: sigmoid(V) = (frac - gamma) / (zeta - gamma).
    V = (-torch.log((ZETA - GAMMA) / (frac - GAMMA) - 1.0)).requires_grad_(True)
    opt = torch.optim.Adam([V], lr=args.lr)
    T, N = args.iterations, len(X)
    window = max(T // 100, 1)
    first = last = 0.0

    def run_unit(x, w):
        # x is the cached input, already through its activation quantizer: run unquantized.
        y = model.run_node(layer, {layer.inputs[0]: x}, quant=False, weight=w)
        return activation(act, y, model.np_consts) if act is not None else y

    for t in range(T):
        idx = torch.randint(0, N, (args.batch,), generator=gen)
        h = h_of(V)
        y = run_unit(X[idx], grid.dequant(Wfloor + h))
        # Sum over channels (axis 1), mean over the batch and spatial positions (0.6).
        rec = ((y - Y[idx]) ** 2).sum(1).mean()
        loss = rec
        if t >= 0.2 * T:  # no regulariser during the warm-up
            reg = (1.0 - (2.0 * h - 1.0).abs().pow(beta_at(t, T))).sum()
            loss = rec + args.reg_weight * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if t < window:
            first += rec.item() / window
        if t >= T - window:
            last += rec.item() / window
    with torch.no_grad():
        up = (V >= 0).to(W.dtype)
        model.wq[layer.name] = grid.dequant(Wfloor + up)
        flipped = float(((Wfloor + up) != torch.round(W / grid.s)).float().mean()) * 100
    log("%s%s: loss %.4g -> %.4g, %.1f%% rounded away from nearest"
        % (layer.name, ".." + act.name if act is not None else "", first, last, flipped))
    return flipped


def main():
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="source ONNX (models/*.onnx, BN kept)")
    ap.add_argument("--init", required=True,
                    help="ptq's round-to-nearest QDQ export (report.json beside it)")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib-count", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reg-weight", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-count", type=int, default=0, help="test images (0: all 10,000)")
    ap.add_argument("--verbose", action="store_true", help="per-layer progress on stderr")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else (lambda s: None)

    meta = json.load(open(os.path.splitext(args.model)[0] + ".json"))
    mean, std = meta["mean"], meta["std"]
    calib = load_images(DATA + "/train-images-idx3-ubyte.gz", args.calib_count, mean, std)
    test_x = load_images(DATA + "/t10k-images-idx3-ubyte.gz", args.eval_count, mean, std)
    test_y = torch.from_numpy(read_idx(DATA + "/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    if args.eval_count:
        test_y = test_y[:args.eval_count]

    nodes, consts, inp, outs = load_graph(args.model)
    nodes = fold_bn(nodes, consts, outs)
    model = Model(nodes, consts, inp, outs)
    grids, model.aq, report = read_export(args.init)

    # Round-to-nearest on the export's grids; ptq's codes must come out the same (a
    # mismatch means a different folding or grid, and the comparison would be unfair).
    by_name = {n.name: n for n in nodes}
    mismatches, total = 0, 0
    grid_of = {}
    for name, g in grids.items():
        if name not in by_name:
            sys.exit("%s: layer '%s' is not in %s" % (args.init, name, args.model))
        W = model.consts[by_name[name].inputs[1]]
        grid = grid_of[name] = Grid(g, W)
        rtn = torch.round(W / grid.s)
        codes = torch.clamp(rtn + grid.z, grid.qmin, grid.qmax)
        mismatches += int((codes.numpy().astype(np.int64) != g["codes"]).sum())
        total += W.numel()
        model.wq[name] = grid.dequant(rtn)
    if mismatches > 0.01 * total:
        sys.exit("%s: %d of %d round-to-nearest codes differ from the export: is it an export "
                 "of %s?" % (args.init, mismatches, total, args.model))
    if mismatches:
        print("warning: %d of %d round-to-nearest codes differ from %s" % (mismatches, total, args.init),
              file=sys.stderr)

    top1_float = top1(model, test_x, test_y, quant=False)
    top1_rtn = top1(model, test_x, test_y, quant=True)
    log("float %.2f %%, round-to-nearest %.2f %% (ptq: %.2f %%)"
        % (100 * top1_float, 100 * top1_rtn, 100 * report["quantized"]["top1"]))

    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    flipped = []
    for layer, act in units_of(model):
        t1 = time.perf_counter()
        X, Y = cache_unit(model, layer, act, calib)
        log("  cached %s: %.2f s" % (layer.name, time.perf_counter() - t1))
        t1 = time.perf_counter()
        flipped.append(reconstruct(model, layer, act, grid_of[layer.name], X, Y, args, gen, log))
        log("  optimised: %.2f s" % (time.perf_counter() - t1))
        del X, Y
    seconds_recon = time.perf_counter() - t0

    top1_ada = top1(model, test_x, test_y, quant=True)
    print(json.dumps({
        "model": os.path.basename(args.model),
        "weight_bits": sorted(set(g["bits"] for g in grids.values())),
        "top1_float": top1_float,
        "top1_rtn": top1_rtn,
        "top1_rtn_ptq": report["quantized"]["top1"],
        "top1": top1_ada,
        "seconds_recon": round(seconds_recon, 3),
        "seconds_total": round(time.perf_counter() - t_start, 3),
        "iterations": args.iterations,
        "units": len(flipped),
        "flipped_pct": round(sum(flipped) / max(len(flipped), 1), 3),
        "rtn_code_mismatches": mismatches,
        "calib_count": len(calib),
        "eval_count": len(test_x),
        "batch": args.batch, "lr": args.lr, "reg_weight": args.reg_weight,
        "seed": args.seed, "threads": args.threads, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
