#!/usr/bin/python3
"""Regenerates the spatial-op fixtures in this folder (committed, so the tests need no
Python): two tiny models, their input and their expected outputs, the outputs computed
here by PyTorch / NumPy, independently of qcraft.  Needs Debian's python3-onnx and
python3-torch: /usr/bin/python3 make_spatial_models.py

spatial_opset9.onnx   x[N,2,3,4] -> Upsample(nearest, scales input [1,1,2,2])
                      -> Slice(attributes: axes [2,3], starts [1,-7], ends [5,100]) -> y
spatial_opset13.onnx  x[N,3,4,5] -> ConvTranspose(3->4, group 1, k 3x3, strides 2,
                      pads 1, output_padding 1, bias) -> Relu
                      -> Resize(linear, half_pixel, sizes Concat(Shape(x)[0:1], [4,11,13]))
                      -> Split(axis 1, split [1,3]) -> y0, y1
                      and a second branch x -> Resize(nearest, asymmetric, floor,
                      scales [1,1,0.5,2]) -> z
"""
import numpy as np
import onnx
import torch
from onnx import TensorProto as T
from onnx import helper as h, numpy_helper as nh

rng = np.random.default_rng(20261206)


def save(m, name, opset):
    m.opset_import[0].version = opset
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, name)


# ---- opset 9: Upsample (scales input) and Slice (attribute form) ----
x9 = rng.uniform(-1, 1, (2, 2, 3, 4)).astype(np.float32)
scales = nh.from_array(np.array([1, 1, 2, 2], np.float32), 'scales')
nodes = [h.make_node('Upsample', ['x', 'scales'], ['u'], name='up', mode='nearest'),
         h.make_node('Slice', ['u'], ['y'], name='slice', axes=[2, 3], starts=[1, -7],
                     ends=[5, 100])]
g = h.make_graph(nodes, 'spatial9', [h.make_tensor_value_info('x', T.FLOAT, ['N', 2, 3, 4])],
                 [h.make_tensor_value_info('y', T.FLOAT, ['N', 2, 4, 7])], [scales])
save(h.make_model(g), 'spatial_opset9.onnx', 9)
u = x9.repeat(2, axis=2).repeat(2, axis=3)  # nearest x2, asymmetric: floor(o / 2)
y9 = u[:, :, 1:5, 8 - 7:]
assert y9.shape == (2, 2, 4, 7)
np.save('spatial_opset9_x.npy', x9)
np.save('spatial_opset9_y.npy', np.ascontiguousarray(y9))

# ---- opset 13: ConvTranspose -> Relu -> Resize(sizes with the batch) -> Split ----
x13 = rng.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)
w = rng.uniform(-0.5, 0.5, (3, 4, 3, 3)).astype(np.float32)
b = rng.uniform(-0.2, 0.2, (4,)).astype(np.float32)
inits = [nh.from_array(w, 'w'), nh.from_array(b, 'b'),
         nh.from_array(np.array([0], np.int64), 'zero'), nh.from_array(np.array([1], np.int64), 'one'),
         nh.from_array(np.array([4, 11, 13], np.int64), 'hw'),
         nh.from_array(np.array([1, 3], np.int64), 'split'),
         nh.from_array(np.array([1, 1, 0.5, 2], np.float32), 'zscales')]
nodes = [h.make_node('ConvTranspose', ['x', 'w', 'b'], ['ct'], name='deconv', strides=[2, 2],
                     pads=[1, 1, 1, 1], output_padding=[1, 1], kernel_shape=[3, 3]),
         h.make_node('Relu', ['ct'], ['r'], name='relu'),
         h.make_node('Shape', ['r'], ['shape'], name='shape'),
         h.make_node('Slice', ['shape', 'zero', 'one'], ['n'], name='batch'),
         h.make_node('Concat', ['n', 'hw'], ['sizes'], name='sizes', axis=0),
         h.make_node('Resize', ['r', '', '', 'sizes'], ['rs'], name='resize', mode='linear',
                     coordinate_transformation_mode='half_pixel'),
         h.make_node('Split', ['rs', 'split'], ['y0', 'y1'], name='split', axis=1),
         h.make_node('Resize', ['x', '', 'zscales'], ['z'], name='resize_nearest', mode='nearest',
                     coordinate_transformation_mode='asymmetric', nearest_mode='floor')]
g = h.make_graph(nodes, 'spatial13', [h.make_tensor_value_info('x', T.FLOAT, ['N', 3, 4, 5])],
                 [h.make_tensor_value_info('y0', T.FLOAT, ['N', 1, 11, 13]),
                  h.make_tensor_value_info('y1', T.FLOAT, ['N', 3, 11, 13]),
                  h.make_tensor_value_info('z', T.FLOAT, ['N', 3, 2, 10])], inits)
save(h.make_model(g), 'spatial_opset13.onnx', 13)

with torch.no_grad():
    t = torch.nn.functional.conv_transpose2d(torch.from_numpy(x13), torch.from_numpy(w),
                                             torch.from_numpy(b), stride=2, padding=1,
                                             output_padding=1)
    assert t.shape == (2, 4, 8, 10)
    t = torch.relu(t)
    # half_pixel with sizes is PyTorch's bilinear with align_corners=False at that size.
    rs = torch.nn.functional.interpolate(t, size=(11, 13), mode='bilinear', align_corners=False)
    y0, y1 = torch.split(rs, [1, 3], dim=1)
# Nearest, asymmetric, floor: input index floor(o / scale).
z = x13[:, :, (np.arange(2) / 0.5).astype(int)][:, :, :, (np.arange(10) / 2).astype(int)]
np.save('spatial_opset13_x.npy', x13)
np.save('spatial_opset13_y0.npy', np.ascontiguousarray(y0.numpy()))
np.save('spatial_opset13_y1.npy', np.ascontiguousarray(y1.numpy()))
np.save('spatial_opset13_z.npy', np.ascontiguousarray(z))

# ---- a small quantizable model (no expected outputs: the tests compare qcraft's float,
# BN-folded and quantized runs of it, and onnxruntime's run of its QDQ export) ----
#   x[N,1,8,8] -> Conv(1->4, 3x3, pad 1) -> Relu -> ConvTranspose(4->6, 2x2, stride 2,
#   group 2) -> BatchNormalization -> Relu -> Slice(channels 0..4) -> Resize(nearest,
#   sizes [N,4,8,8]) -> Split(axis 1, [2,2]) -> Add -> Conv(2->3, 1x1) -> GlobalAveragePool
#   -> Flatten -> y[N,3]
cw = rng.uniform(-0.5, 0.5, (4, 1, 3, 3)).astype(np.float32)
tw = rng.uniform(-0.5, 0.5, (4, 3, 2, 2)).astype(np.float32)
bn = [rng.uniform(0.5, 1.5, 6), rng.uniform(-0.3, 0.3, 6), rng.uniform(-0.2, 0.2, 6),
      rng.uniform(0.5, 1.5, 6)]
pw = rng.uniform(-0.5, 0.5, (3, 2, 1, 1)).astype(np.float32)
inits = [nh.from_array(cw, 'cw'), nh.from_array(tw, 'tw'), nh.from_array(pw, 'pw'),
         nh.from_array(np.array([0], np.int64), 's0'), nh.from_array(np.array([4], np.int64), 's1'),
         nh.from_array(np.array([1], np.int64), 'sax'),
         nh.from_array(np.array([0], np.int64), 'zero'), nh.from_array(np.array([1], np.int64), 'one'),
         nh.from_array(np.array([4, 8, 8], np.int64), 'chw'),
         nh.from_array(np.array([2, 2], np.int64), 'split')]
inits += [nh.from_array(v.astype(np.float32), n) for v, n in zip(bn, ['g', 'beta', 'mean', 'var'])]
nodes = [h.make_node('Conv', ['x', 'cw'], ['c'], name='conv', pads=[1, 1, 1, 1]),
         h.make_node('Relu', ['c'], ['cr'], name='relu0'),
         h.make_node('ConvTranspose', ['cr', 'tw'], ['t'], name='deconv', strides=[2, 2], group=2),
         h.make_node('BatchNormalization', ['t', 'g', 'beta', 'mean', 'var'], ['tb'], name='bn'),
         h.make_node('Relu', ['tb'], ['tr'], name='relu1'),
         h.make_node('Slice', ['tr', 's0', 's1', 'sax'], ['sl'], name='slice'),
         h.make_node('Shape', ['sl'], ['shape'], name='shape'),
         h.make_node('Slice', ['shape', 'zero', 'one'], ['n'], name='batch'),
         h.make_node('Concat', ['n', 'chw'], ['sizes'], name='sizes', axis=0),
         h.make_node('Resize', ['sl', '', '', 'sizes'], ['rs'], name='down', mode='nearest'),
         h.make_node('Split', ['rs', 'split'], ['p0', 'p1'], name='split', axis=1),
         h.make_node('Add', ['p0', 'p1'], ['a'], name='add'),
         h.make_node('Conv', ['a', 'pw'], ['pc'], name='pointwise'),
         h.make_node('GlobalAveragePool', ['pc'], ['gp'], name='gap'),
         h.make_node('Flatten', ['gp'], ['y'], name='flatten')]
g = h.make_graph(nodes, 'spatial_quant', [h.make_tensor_value_info('x', T.FLOAT, ['N', 1, 8, 8])],
                 [h.make_tensor_value_info('y', T.FLOAT, ['N', 3])], inits)
save(h.make_model(g), 'spatial_quant.onnx', 13)
