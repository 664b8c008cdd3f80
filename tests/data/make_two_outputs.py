#!/usr/bin/python3
"""Regenerates two_outputs.onnx: a tiny two-output model (class scores and a per-pixel
map, like a segmenter's) for the fidelity tests, which need a model whose outputs are not
all class scores.  Fixed seed; committed, so the tests need no Python.
Needs Debian's python3-onnx: /usr/bin/python3 make_two_outputs.py"""
import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

rng = np.random.default_rng(0)


def weight(name, shape):
    fan_in = int(np.prod(shape[1:]))
    w = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    return h.make_tensor(name, T.FLOAT, shape, w.ravel())


def bias(name, n):
    return h.make_tensor(name, T.FLOAT, [n], rng.normal(0.0, 0.1, n).astype(np.float32))


# x [N,1,28,28] -> Conv 3x3 (8) -> Relu -> Conv 3x3 stride 2 (16) -> Relu = features
#   features -> Conv 1x1 (1)                                   = "mask"   [N,1,14,14]
#   features -> GlobalAveragePool -> Flatten -> Gemm (10)      = "logits" [N,10]
# The map is output 0, where ptq's per-pass measurement looks: it must not take the
# map's pixels for class scores.
inits = [weight('w1', [8, 1, 3, 3]), bias('b1', 8), weight('w2', [16, 8, 3, 3]), bias('b2', 16),
         weight('wf', [10, 16]), bias('bf', 10), weight('wm', [1, 16, 1, 1]), bias('bm', 1)]
nodes = [h.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], name='conv1', pads=[1, 1, 1, 1]),
         h.make_node('Relu', ['c1'], ['r1'], name='relu1'),
         h.make_node('Conv', ['r1', 'w2', 'b2'], ['c2'], name='conv2', pads=[1, 1, 1, 1],
                     strides=[2, 2]),
         h.make_node('Relu', ['c2'], ['features'], name='relu2'),
         h.make_node('GlobalAveragePool', ['features'], ['gap'], name='gap'),
         h.make_node('Flatten', ['gap'], ['flat'], name='flatten', axis=1),
         h.make_node('Gemm', ['flat', 'wf', 'bf'], ['logits'], name='fc', transB=1),
         h.make_node('Conv', ['features', 'wm', 'bm'], ['mask'], name='mask_head')]
X = h.make_tensor_value_info('x', T.FLOAT, ['N', 1, 28, 28])
outs = [h.make_tensor_value_info('mask', T.FLOAT, ['N', 1, 14, 14]),
        h.make_tensor_value_info('logits', T.FLOAT, ['N', 10])]
m = h.make_model(h.make_graph(nodes, 'two_outputs', [X], outs, inits))
m.opset_import[0].version = 13
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, 'two_outputs.onnx')

# The same network exported with a fixed batch of 2 (as many detector exports fix 1):
# ptq infer must run it two images at a time and pad the last batch.
for v in [m.graph.input[0]] + list(m.graph.output):
    v.type.tensor_type.shape.dim[0].ClearField('dim_param')
    v.type.tensor_type.shape.dim[0].dim_value = 2
onnx.checker.check_model(m)
onnx.save(m, 'two_outputs_batch2.onnx')
