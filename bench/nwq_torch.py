#!/usr/bin/python3
"""bench/nwq_torch.py — a PyTorch speed reference for one iteration of ptq's nwq.reconstruct.

ptq's NWQ pass (plugins/nwq/nwq.c on core/src/train/recon.c) optimises the whole network
at once.  This script does the same work per iteration, written idiomatically with
torch.autograd, so that "seconds per NWQ iteration, ptq vs PyTorch" compares like with
like.  It measures speed only: it neither freezes the result nor evaluates accuracy.

    /usr/bin/python3 bench/nwq_torch.py --model models/resnet20_fmnist.onnx \
        --init runs/rtn/model.qdq.onnx --checkpoints runs/nwq/report.json --iterations 50

--init is ptq's round-to-nearest QDQ export (`passes: []`, `output: {onnx: true}`, with
its report.json beside it): the weight grids (per output channel scale and zero point)
and the activation quantizers (scale, zero point, integer range, and which tensors they
quantize) are read from it with bench/adaround_torch.py's reader; the float weights are
the source model's, BN-folded as ptq folds them (adaround_torch.py again).
--checkpoints is the report.json of a ptq run of nwq.reconstruct on the same pipeline:
its `checkpoints` table names the tensors ptq takes the loss at, and this script takes it
at the same tensors.

One iteration (what the C engine does per iteration):
  * draw `batch` calibration images with replacement;
  * soft-quantize every Conv/Gemm weight of the export with ASoftmax: two logits per
    element over the offsets {0, 1} from floor(w / s), code = floor(w / s) +
    softmax(logits / tau)[1], weight = s (clamp(code + zp, qmin, qmax) - zp) per output
    channel; tau linear 1 -> 0.01 over the run;
  * run the network forward with a fake-quantizer on every tensor the export quantizes:
    per tensor, learnable scale (LSQ: straight-through rounding, gradient scaled by
    1 / sqrt(numel * qmax)), and AMixup: each element keeps its float value with
    probability p, p linear 0.5 -> 0 over the run;
  * loss = sum over the checkpoints of the mean over (batch, positions) of the sum over
    channels of (y_q - y_float)^2, against float targets cached beforehand for every
    calibration image (outside the timing, as ptq caches them before its loop);
  * backward; Adam (lr 1e-3) on every logit, Adam (lr 4e-5, cosine to 0) on every
    activation scale, scales kept >= 1e-8.

Timing: `--warmup` iterations first (default 5), then `--iterations` timed one by one;
the schedules (tau, p, cosine) run over warm-up plus timed iterations.  Prints one JSON
line: model, batch, iterations, seconds_per_iteration (the median of the timed
iterations), peak_rss_mb (the process's maximum resident set size, torch itself
included), threads, and a few counts and the loss at both ends as a sanity check.

Requires Debian's python3-torch, python3-onnx and python3-numpy (run with /usr/bin/python3).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adaround_torch as ref  # noqa: E402  (the ONNX interpreter, BN folding, export reader)

TAU = (1.0, 0.01)        # ASoftmax temperature, first -> last iteration
MIX = (0.5, 0.0)         # AMixup: probability of keeping an element's float value
LOGIT_FLOOR = 1e-6       # ptq's floor on the initial probabilities (asoftmax.c)
SCALE_FLOOR = 1e-8       # activation scales never fall below this (recon.c)


def linear(start, end, t, total):
    """nwq.c's schedule: start at t = 0, end at t = total - 1."""
    return end if total <= 1 else start + (end - start) * t / (total - 1)


def checkpoint_names(report_path):
    """The tensors of the `checkpoints` table of ptq's nwq.reconstruct, in its order."""
    report = json.load(open(report_path))
    rows = [p.get("tables", {}).get("checkpoints") for p in report["passes"]
            if p["name"] == "nwq.reconstruct"]
    if not rows or not rows[0]:
        sys.exit("%s: no nwq.reconstruct pass with a checkpoints table" % report_path)
    return [row["name"] for row in rows[0]]


class SoftWeight:
    """One layer's ASoftmax weight on its fixed grid.  At tau = 1 the initial logits
    log(1 - frac), log(frac) give back the float weight (asoftmax.c)."""

    def __init__(self, w, grid):
        self.grid = grid
        v = w / grid.s
        self.floor = torch.floor(v)
        frac = v - self.floor
        self.logits = torch.stack([torch.log(torch.clamp(1.0 - frac, min=LOGIT_FLOOR)),
                                   torch.log(torch.clamp(frac, min=LOGIT_FLOOR))], dim=-1)
        self.logits.requires_grad_(True)

    def __call__(self, tau):
        up = torch.softmax(self.logits / tau, dim=-1)[..., 1]
        return self.grid.dequant(self.floor + up)


def grad_scale(x, g):
    """x in the forward pass, gradient times g in the backward one (LSQ)."""
    return (x - x * g).detach() + x * g


def round_ste(x):
    """Round half to even in the forward pass, identity gradient."""
    return (torch.round(x) - x).detach() + x


class ActQuant:
    """A per-tensor asymmetric activation fake-quantizer with a learnable scale (LSQ),
    AMixup applied to its output."""

    def __init__(self, scale, zp, lo, hi, numel):
        self.scale = torch.tensor(scale, dtype=torch.float32, requires_grad=True)
        self.zp, self.lo, self.hi = float(zp), float(lo), float(hi)
        self.g = 1.0 / math.sqrt(numel * hi)  # ptq: qmax of the grid, numel of the batch

    def __call__(self, x, p):
        s = grad_scale(self.scale, self.g)
        xq = (torch.clamp(round_ste(x / s) + self.zp, self.lo, self.hi) - self.zp) * s
        if p > 0.0:
            # Kept elements pass the gradient to x unchanged and none to the scale.
            xq = torch.where(torch.rand_like(x) < p, x, xq)
        return xq


def run(model, x, weights, acts, p):
    """Runs the BN-folded graph on x and returns every tensor by name: `weights` (layer
    name -> weight) replace Conv/Gemm weights, `acts` (tensor name -> ActQuant)
    quantize tensors where they are produced.  Empty dicts: the float model."""
    env = {}

    def put(name, value):
        env[name] = acts[name](value, p) if name in acts else value

    put(model.input, x)
    for n in model.nodes:
        put(n.outputs[0], model.run_node(n, env, quant=False, weight=weights.get(n.name)))
    return env


def float_targets(model, images, names, batch=64):
    """The float model's values at the checkpoints for every calibration image, written
    into preallocated tensors (a small batch and no concatenation keep the peak low)."""
    targets = {}
    with torch.no_grad():
        for i in range(0, len(images), batch):
            env = run(model, images[i:i + batch], {}, {}, 0.0)
            for c in names:
                if c not in targets:
                    targets[c] = torch.empty((len(images),) + env[c].shape[1:])
                targets[c][i:i + batch] = env[c]
    return targets


def act_quantizers(model, export_acts, images, batch):
    """One ActQuant per tensor the export quantizes.  The export keys its quantizers by
    (reading node, input index); ptq quantizes a tensor once for all its readers, so
    every reader of a quantized tensor must carry the same quantizer."""
    by_name = {n.name: n for n in model.nodes}
    per_tensor = {}
    for (node, i), q in export_acts.items():
        per_tensor.setdefault(by_name[node].inputs[i], set()).add(q)
    with torch.no_grad():
        shapes = {k: v.shape for k, v in run(model, images[:1], {}, {}, 0.0).items()}
    acts = {}
    for tensor, qs in sorted(per_tensor.items()):
        readers = [(n.name, i) for n in model.nodes for i, v in enumerate(n.inputs) if v == tensor]
        if len(qs) != 1 or any(r not in export_acts for r in readers):
            sys.exit("tensor '%s': its readers are quantized differently in the export; "
                     "this script quantizes a tensor once for all readers" % tensor)
        scale, zp, lo, hi = qs.pop()
        acts[tensor] = ActQuant(scale, zp, lo, hi, math.prod(shapes[tensor][1:]) * batch)
    return acts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="source ONNX (models/*.onnx, BN kept)")
    ap.add_argument("--init", required=True,
                    help="ptq's round-to-nearest QDQ export (report.json beside it)")
    ap.add_argument("--checkpoints", required=True,
                    help="report.json of ptq's nwq.reconstruct on the same pipeline")
    ap.add_argument("--iterations", type=int, default=50, help="timed iterations")
    ap.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib-count", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam on the ASoftmax logits")
    ap.add_argument("--act-lr", type=float, default=4e-5, help="Adam on the activation scales")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.iterations < 1 or args.warmup < 0:
        sys.exit("--iterations must be >= 1 and --warmup >= 0")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    meta = json.load(open(os.path.splitext(args.model)[0] + ".json"))
    calib = ref.load_images(ref.DATA + "/train-images-idx3-ubyte.gz", args.calib_count,
                            meta["mean"], meta["std"])
    nodes, consts, inp, outs = ref.load_graph(args.model)
    model = ref.Model(ref.fold_bn(nodes, consts, outs), consts, inp, outs)
    grids, export_acts, _ = ref.read_export(args.init)

    by_name = {n.name: n for n in model.nodes}
    weights = {}
    for name, g in grids.items():
        if name not in by_name:
            sys.exit("%s: layer '%s' is not in %s" % (args.init, name, args.model))
        w = model.consts[by_name[name].inputs[1]]
        weights[name] = SoftWeight(w, ref.Grid(g, w))
    acts = act_quantizers(model, export_acts, calib, args.batch)
    names = checkpoint_names(args.checkpoints)
    produced = {model.input} | {n.outputs[0] for n in model.nodes}
    missing = [c for c in names if c not in produced]
    if missing:
        sys.exit("%s: checkpoints %s are not tensors of %s" % (args.checkpoints, missing, args.model))
    targets = float_targets(model, calib, names)

    total = args.warmup + args.iterations
    opt_w = torch.optim.Adam([sw.logits for sw in weights.values()], lr=args.lr)
    scales = [q.scale for q in acts.values()]
    opt_a = torch.optim.Adam(scales, lr=args.act_lr)
    sched_a = torch.optim.lr_scheduler.CosineAnnealingLR(opt_a, T_max=total)
    gen = torch.Generator().manual_seed(args.seed)

    def iteration(t):
        idx = torch.randint(0, len(calib), (args.batch,), generator=gen)
        tau = linear(TAU[0], TAU[1], t, total)
        wq = {name: sw(tau) for name, sw in weights.items()}
        env = run(model, calib[idx], wq, acts, linear(MIX[0], MIX[1], t, total))
        loss = sum(((env[c] - targets[c][idx]) ** 2).sum(1).mean() for c in names)
        opt_w.zero_grad(set_to_none=True)
        opt_a.zero_grad(set_to_none=True)
        loss.backward()
        opt_w.step()
        opt_a.step()
        sched_a.step()
        with torch.no_grad():
            for s in scales:
                s.clamp_(min=SCALE_FLOOR)
        return loss.item()

    losses, seconds = [], []
    for t in range(total):
        t0 = time.perf_counter()
        losses.append(iteration(t))
        if t >= args.warmup:
            seconds.append(time.perf_counter() - t0)

    print(json.dumps({
        "model": os.path.basename(args.model),
        "batch": args.batch,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "seconds_per_iteration": statistics.median(seconds),
        "seconds_mean": sum(seconds) / len(seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "threads": torch.get_num_threads(),
        "weights": len(weights),
        "activation_quantizers": len(acts),
        "checkpoints": len(names),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
