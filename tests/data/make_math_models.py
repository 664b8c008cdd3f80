#!/usr/bin/python3
"""Regenerates the attention-style fixtures of the elementwise, comparison and reduction
ops (committed, so the tests need no Python).  Needs Debian's python3-onnx and numpy:
    cd tests/data && /usr/bin/python3 make_math_models.py

A tiny transformer block on [N, 4 tokens, 8 features]:
    LayerNorm -> Q, K, V (MatMul) -> scores / sqrt(8) -> Where(causal mask) -> Softmax
    -> MatMul V -> residual Add -> LayerNorm -> MatMul -> GELU (via Erf) -> MatMul
    -> residual Add -> ReduceMean over tokens -> MatMul to 3 classes.
math_attention13.onnx (opset 13) writes both LayerNorms as the pattern older exporters
emit (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul, Add);
math_attention17.onnx (opset 17) as LayerNormalization.  The expected outputs
(math_attention_y.npy, same for both) are computed here with numpy in float64 from
math_attention_x.npy, independently of qcraft."""
import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

D, S, F, C = 8, 4, 16, 3
rng = np.random.default_rng(20261206)


def w(*shape, scale=0.4):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


P = {
    'ln1_w': (1.0 + w(D, scale=0.1)), 'ln1_b': w(D, scale=0.1),
    'wq': w(D, D), 'wk': w(D, D), 'wv': w(D, D),
    'ln2_w': (1.0 + w(D, scale=0.1)), 'ln2_b': w(D, scale=0.1),
    'w1': w(D, F), 'b1': w(F, scale=0.1), 'w2': w(F, D), 'wc': w(D, C),
}
MASK = np.tril(np.ones((S, S), dtype=bool))  # causal: token i sees tokens <= i
EPS = 1e-5
x = rng.standard_normal((2, S, D)).astype(np.float32)


# ---- the reference, in float64 ----------------------------------------------------------
def ln_ref(v, g, b):
    m = v.mean(-1, keepdims=True)
    var = ((v - m) ** 2).mean(-1, keepdims=True)
    return (v - m) / np.sqrt(var + EPS) * g + b


def erf(v):
    from math import erf as e
    return np.vectorize(e)(v)


def forward(xv):
    p = {k: v.astype(np.float64) for k, v in P.items()}
    a = ln_ref(xv.astype(np.float64), p['ln1_w'], p['ln1_b'])
    q, k, v = a @ p['wq'], a @ p['wk'], a @ p['wv']
    s = q @ k.transpose(0, 2, 1) / np.sqrt(D)
    s = np.where(MASK, s, -1e4)
    s = np.exp(s - s.max(-1, keepdims=True))
    s = s / s.sum(-1, keepdims=True)
    r = xv + s @ v
    b = ln_ref(r, p['ln2_w'], p['ln2_b'])
    u = b @ p['w1'] + p['b1']
    u = 0.5 * u * (1.0 + erf(u / np.sqrt(2.0)))
    r2 = r + u @ p['w2']
    return (r2.mean(1) @ p['wc']).astype(np.float32)


# ---- the ONNX graphs -----------------------------------------------------------------------
def ln_nodes(prefix, inp, out, fused):
    g, b = prefix + '_w', prefix + '_b'
    if fused:
        return [h.make_node('LayerNormalization', [inp, g, b], [out], name=prefix,
                            axis=-1, epsilon=EPS)]
    n = lambda op, ins, o, **kw: h.make_node(op, ins, [prefix + '/' + o], name=prefix + '/' + op + o, **kw)
    p = prefix + '/'
    return [n('ReduceMean', [inp], 'mean', axes=[-1], keepdims=1),
            n('Sub', [inp, p + 'mean'], 'd'),
            n('Pow', [p + 'd', 'two'], 'd2'),
            n('ReduceMean', [p + 'd2'], 'var', axes=[-1], keepdims=1),
            n('Add', [p + 'var', 'eps'], 've'),
            n('Sqrt', [p + 've'], 'std'),
            n('Div', [p + 'd', p + 'std'], 'xhat'),
            n('Mul', [p + 'xhat', g], 'scaled'),
            h.make_node('Add', [p + 'scaled', b], [out], name=p + 'Addbias')]


def model(opset, fused):
    nodes = ln_nodes('ln1', 'x', 'a', fused)
    nodes += [h.make_node('MatMul', ['a', 'wq'], ['q'], name='q'),
              h.make_node('MatMul', ['a', 'wk'], ['k'], name='k'),
              h.make_node('MatMul', ['a', 'wv'], ['v'], name='v'),
              h.make_node('Transpose', ['k'], ['kt'], name='kt', perm=[0, 2, 1]),
              h.make_node('MatMul', ['q', 'kt'], ['qk'], name='qk'),
              h.make_node('Div', ['qk', 'sqrt_d'], ['scores'], name='scale'),
              h.make_node('Where', ['mask', 'scores', 'neg'], ['masked'], name='mask'),
              h.make_node('Softmax', ['masked'], ['attn'], name='softmax', axis=-1),
              h.make_node('MatMul', ['attn', 'v'], ['ctx'], name='ctx'),
              h.make_node('Add', ['x', 'ctx'], ['r'], name='res1')]
    nodes += ln_nodes('ln2', 'r', 'b', fused)
    nodes += [h.make_node('MatMul', ['b', 'w1'], ['u0'], name='fc1'),
              h.make_node('Add', ['u0', 'b1'], ['u'], name='fc1_bias'),
              h.make_node('Div', ['u', 'sqrt2'], ['us'], name='gelu/div'),
              h.make_node('Erf', ['us'], ['ue'], name='gelu/erf'),
              h.make_node('Add', ['ue', 'one'], ['ue1'], name='gelu/add'),
              h.make_node('Mul', ['u', 'ue1'], ['um'], name='gelu/mul'),
              h.make_node('Mul', ['um', 'half'], ['g'], name='gelu/half'),
              h.make_node('MatMul', ['g', 'w2'], ['f'], name='fc2'),
              h.make_node('Add', ['r', 'f'], ['r2'], name='res2'),
              h.make_node('ReduceMean', ['r2'], ['pooled'], name='pool', axes=[1], keepdims=0),
              h.make_node('MatMul', ['pooled', 'wc'], ['y'], name='classifier')]
    scal = lambda name, v: nh.from_array(np.array(v, dtype=np.float32), name)
    inits = [nh.from_array(v, k) for k, v in P.items()]
    inits += [nh.from_array(MASK, 'mask'), scal('neg', -1e4), scal('sqrt_d', np.sqrt(D)),
              scal('sqrt2', np.sqrt(2.0)), scal('one', 1.0), scal('half', 0.5)]
    if not fused:
        inits += [scal('two', 2.0), scal('eps', EPS)]
    graph = h.make_graph(nodes, 'math_attention%d' % opset,
                         [h.make_tensor_value_info('x', T.FLOAT, ['N', S, D])],
                         [h.make_tensor_value_info('y', T.FLOAT, ['N', C])], inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid('', opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


onnx.save(model(13, False), 'math_attention13.onnx')
onnx.save(model(17, True), 'math_attention17.onnx')
np.save('math_attention_x.npy', x)
np.save('math_attention_y.npy', forward(x))
