#!/usr/bin/python3
"""Regenerates the malformed-model fixtures in this folder (they are committed, so the
tests need no Python).  Needs Debian's python3-onnx: /usr/bin/python3 make_fixtures.py"""
import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h


def save(m, name):
    m.opset_import[0].version = 13
    m.ir_version = 8
    onnx.save(m, name)


X = h.make_tensor_value_info('x', T.FLOAT, ['N', 4])
Y = h.make_tensor_value_info('y', T.FLOAT, ['N', 4])

# Two unsupported op types, one of them used twice: the error must list both, each with
# the first node that uses it.
nodes = [h.make_node('Relu', ['x'], ['a'], name='relu0'),
         h.make_node('Sin', ['a'], ['b'], name='sin_first'),
         h.make_node('Sin', ['b'], ['c'], name='sin_second'),
         h.make_node('Round', ['c'], ['y'], name='round_first')]
save(h.make_model(h.make_graph(nodes, 'unsupported', [X], [Y])), 'unsupported_ops.onnx')

# A node input that nothing defines.
nodes = [h.make_node('Add', ['x', 'ghost'], ['y'], name='add_ghost')]
save(h.make_model(h.make_graph(nodes, 'dangling', [X], [Y])), 'dangling_input.onnx')

# Conv weight channels that do not match the input.
Xc = h.make_tensor_value_info('x', T.FLOAT, ['N', 3, 8, 8])
Yc = h.make_tensor_value_info('y', T.FLOAT, ['N', 4, 8, 8])
W = h.make_tensor('w', T.FLOAT, [4, 5, 3, 3], np.zeros(4 * 5 * 9, np.float32))
nodes = [h.make_node('Conv', ['x', 'w'], ['y'], name='conv_bad', pads=[1, 1, 1, 1])]
save(h.make_model(h.make_graph(nodes, 'inconsistent', [Xc], [Yc], [W])), 'inconsistent_shapes.onnx')

# An initializer that claims 2^40 elements but holds four floats.
t = T()
t.name = 'w'
t.data_type = T.FLOAT
t.dims.extend([1 << 20, 1 << 20])
t.raw_data = np.zeros(4, np.float32).tobytes()
nodes = [h.make_node('Add', ['x', 'w'], ['y'], name='add_huge')]
save(h.make_model(h.make_graph(nodes, 'absurd', [X], [Y], [t])), 'absurd_dims.onnx')

# A detector's input in miniature: ['N', 1, 'height', 'width'] -> Conv(1->4, 3x3, pad 1)
# -> GlobalAveragePool -> Flatten: a model of symbolic size (ptq infer, input_shape).
Xs = h.make_tensor_value_info('x', T.FLOAT, ['N', 1, 'height', 'width'])
Ys = h.make_tensor_value_info('y', T.FLOAT, ['N', 4])
Ws = h.make_tensor('w', T.FLOAT, [4, 1, 3, 3],
                   np.random.default_rng(0).standard_normal(36).astype(np.float32))
nodes = [h.make_node('Conv', ['x', 'w'], ['c'], name='conv', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         h.make_node('GlobalAveragePool', ['c'], ['p'], name='gap'),
         h.make_node('Flatten', ['p'], ['y'], name='flatten')]
save(h.make_model(h.make_graph(nodes, 'symbolic_hw', [Xs], [Ys], [Ws])), 'symbolic_hw.onnx')
