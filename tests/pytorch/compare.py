"""nnd against PyTorch on one model: identical weights, one identical batch.

Writes random weights and a batch as safetensors, runs `nnd step` (the loss,
every gradient, and every parameter after STEPS optimizer updates, all from
nnd's compiled step), runs the same model in PyTorch, and compares:
  loss and gradients: relative error <= 1e-4 (max |a - b| / max |b| per tensor)
  parameters after the updates: the same bound where the gradient is resolved,
  and their change from the start within 1e-2 everywhere (see RESOLVED);
  running statistics (a model's `statistics`: batch norm's buffers) after the
  updates, and the evaluation step's loss after them (eval mode), within 1e-4.
Dropout is off on both sides (`nnd step --no-dropout`): the masks come from
different generators; dropout's backward is checked by `nnd gradcheck`.

usage: compare.py MODEL NND EXAMPLES_DIR WORK_DIR [--set 'key = value']... [--steps N]
       compare.py --oracle   (only the written-out recurrent layers' checks; no nnd)
MODEL names a builder below; each --set replaces or adds a setting of the
.nnd file's train block (optimizer, schedule, warmup, clip_norm), and the
PyTorch side follows it with torch.optim, lr_scheduler and clip_grad_norm_.
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
import torch.nn.functional as F

TOLERANCE = 1e-4
# Adam and RMSprop divide by sqrt(v) + eps, so an element whose gradient is a
# near-cancelling sum (|g| ~ eps), and whose last bits therefore depend on the
# summation order, gets an update anywhere in (-lr, lr). The parameters are
# compared at 1e-4 where the first gradient is above RESOLVED of the largest
# (nearly all elements), and their whole change from the start within
# CHANGE_TOLERANCE of the largest change: a wrong optimizer (say, no bias
# correction) is off by a factor, not by 1e-2.
RESOLVED = 1e-4
CHANGE_TOLERANCE = 1e-2


# ---- models: the PyTorch twin of each example, and how nnd names its weights ----

def same(a):
    return a


def dense(name, fan_in, units):
    """nnd's dense kernel is [in, out] (Keras); torch.nn.Linear's weight is [out, in]."""
    layer = torch.nn.Linear(fan_in, units)
    return layer, {f"{name}.kernel": (layer.weight, np.transpose), f"{name}.bias": (layer.bias, same)}


def conv2d(name, channels, filters, size, what="kernel", **options):
    """nnd's conv kernel is [size*size*channels/groups, filters], rows in (row,
    column, channel) order (im2col's), as Keras's (kh, kw, channels/groups,
    filters); torch's Conv2d weight is [filters, channels/groups, size, size].
    options go to torch.nn.Conv2d (stride, padding, dilation, groups, bias)."""
    layer = torch.nn.Conv2d(channels, filters, size, **options)
    rows = size * size * channels // options.get("groups", 1)
    to_nnd = lambda w: w.transpose(2, 3, 1, 0).reshape(rows, filters)
    names = {f"{name}.{what}": (layer.weight, to_nnd)}
    if options.get("bias", True):
        names[f"{name}.bias"] = (layer.bias, same)
    return layer, names


# Each builder returns the PyTorch model, nnd's name for each of its weights,
# one batch (by nnd input name), the loss of a batch, and the example file.

def mnist_mlp():
    l1, n1 = dense("dense_1", 784, 128)
    l2, n2 = dense("dense_2", 128, 10)
    model = torch.nn.Sequential(torch.nn.Flatten(), l1, torch.nn.ReLU(), l2)
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((16, 28, 28), dtype=np.float32),
             "label": rng.integers(0, 10, 16).astype(np.int32)}
    loss = lambda b: F.cross_entropy(model(b["image"]), b["label"].long())
    return model, {**n1, **n2}, batch, loss, "examples/mnist_mlp.nnd"


def linear_regression():
    l1, n1 = dense("dense_1", 10, 1)
    rng = np.random.default_rng(1)
    batch = {"features": rng.standard_normal((16, 10), dtype=np.float32),
             "target": rng.standard_normal((16, 1), dtype=np.float32)}
    loss = lambda b: F.mse_loss(l1(b["features"]), b["target"])
    return l1, n1, batch, loss, "examples/linear_regression.nnd"


def binary_classifier():
    l1, n1 = dense("dense_1", 30, 16)
    l2, n2 = dense("dense_2", 16, 1)
    model = torch.nn.Sequential(l1, torch.nn.ReLU(), l2)
    rng = np.random.default_rng(2)
    batch = {"features": rng.standard_normal((16, 30), dtype=np.float32),
             "label": rng.integers(0, 2, (16, 1)).astype(np.float32)}
    loss = lambda b: F.binary_cross_entropy_with_logits(model(b["features"]), b["label"])
    return model, {**n1, **n2}, batch, loss, "examples/binary_classifier.nnd"


def cnn():
    c1, n1 = conv2d("conv2d_1", 1, 32, 3)
    c2, n2 = conv2d("conv2d_2", 32, 64, 3)
    d1, n3 = dense("dense_1", 5 * 5 * 64, 128)
    d2, n4 = dense("dense_2", 128, 10)
    pool, relu = torch.nn.MaxPool2d(2), torch.nn.ReLU()

    def forward(image):  # NCHW inside; flattened in NHWC order as nnd does
        x = pool(relu(c1(image.unsqueeze(1))))
        x = pool(relu(c2(x)))
        return d2(relu(d1(x.permute(0, 2, 3, 1).flatten(1))))

    model = torch.nn.ModuleList([c1, c2, d1, d2])
    rng = np.random.default_rng(3)
    batch = {"image": rng.random((8, 28, 28), dtype=np.float32), "label": rng.integers(0, 10, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, {**n1, **n2, **n3, **n4}, batch, loss, "examples/cnn.nnd"


def tf_same_pad(x, size, stride, dilation=1):
    """TensorFlow's padding='same' for NCHW x, as F.pad's (left, right, top,
    bottom): ceil(n / stride) window positions, the odd padding after"""
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max((-(-n // stride) - 1) * stride + (size - 1) * dilation + 1 - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def nhwc_flat(x):
    return x.permute(0, 2, 3, 1).flatten(1)


def conv_options():
    """tests/pytorch/Inputs/conv_options.nnd: conv2d's stride with `same`,
    dilation, groups, depthwise, separable_conv2d and a 1x1 convolution"""
    c1, n1 = conv2d("conv2d_1", 4, 6, 4, stride=2)
    c2, n2 = conv2d("conv2d_2", 6, 6, 3, dilation=2, padding=(2, 1))
    c3, n3 = conv2d("conv2d_3", 6, 6, 3, groups=3, padding="same")
    c4, n4 = conv2d("conv2d_4", 6, 6, 2, groups=6)
    dw, n5 = conv2d("separable_conv2d_1", 6, 12, 3, "depthwise_kernel", stride=2, groups=6,
                    bias=False)
    pw, n6 = conv2d("separable_conv2d_1", 12, 4, 1, "pointwise_kernel")
    c5, n7 = conv2d("conv2d_5", 4, 3, 1, bias=False)
    d, n8 = dense("dense_1", 3 * 2 * 4 + 9 * 9 * 3, 5)

    def forward(image):
        x = image.permute(0, 3, 1, 2)
        a = torch.tanh(c1(F.pad(x, tf_same_pad(x, 4, 2))))
        b = torch.tanh(c2(a))
        c = torch.tanh(c3(b))
        e = torch.tanh(c4(F.pad(c, (1, 0, 0, 1))))  # [top 0, bottom 1, left 1, right 0]
        s = torch.tanh(pw(dw(F.pad(e, tf_same_pad(e, 3, 2)))))
        return d(torch.cat([nhwc_flat(s), nhwc_flat(c5(x))], 1))

    model = torch.nn.ModuleList([c1, c2, c3, c4, dw, pw, c5, d])
    rng = np.random.default_rng(6)
    batch = {"image": rng.standard_normal((8, 9, 9, 4), dtype=np.float32),
             "label": rng.integers(0, 5, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    names = {**n1, **n2, **n3, **n4, **n5, **n6, **n7, **n8}
    return model, names, batch, loss, "tests/pytorch/Inputs/conv_options.nnd"


def pool_options():
    """tests/pytorch/Inputs/pool_options.nnd: max and average pooling with
    `same` and explicit padding and strides, count_include_pad both ways, and
    the global pools"""
    c1, n1 = conv2d("conv2d_1", 3, 4, 3, padding="same")
    d, n2 = dense("dense_1", 5 * 5 * 4 * 5 + 8, 5)

    def forward(image):
        x = torch.tanh(c1(image.permute(0, 3, 1, 2)))
        pads = tf_same_pad(x, 2, 2)
        p1 = F.max_pool2d(F.pad(x, pads, value=float("-inf")), 2)
        p2 = F.max_pool2d(x, 3, 2, padding=1)
        p3 = F.avg_pool2d(x, 3, 2, padding=1)
        p4 = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)
        p5 = F.avg_pool2d(F.pad(x, pads), 2) / F.avg_pool2d(F.pad(torch.ones_like(x), pads), 2)
        pools = [nhwc_flat(p) for p in (p1, p2, p3, p4, p5)]
        return d(torch.cat(pools + [x.mean((2, 3)), x.amax((2, 3))], 1))

    model = torch.nn.ModuleList([c1, d])
    rng = np.random.default_rng(7)
    batch = {"image": rng.standard_normal((8, 9, 9, 3), dtype=np.float32),
             "label": rng.integers(0, 5, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, {**n1, **n2}, batch, loss, "tests/pytorch/Inputs/pool_options.nnd"


def norm(name, width):
    layer = torch.nn.LayerNorm(width, eps=1e-5)
    return layer, {f"{name}.gamma": (layer.weight, same), f"{name}.beta": (layer.bias, same)}


def batch_norm(name, layer):
    """torch.nn.BatchNorm1d/2d's affine weight and bias are nnd's gamma and beta;
    its running_mean and running_var buffers are nnd's statistics of the same names"""
    names = {f"{name}.gamma": (layer.weight, same), f"{name}.beta": (layer.bias, same)}
    statistics = {f"{name}.running_mean": layer.running_mean, f"{name}.running_var": layer.running_var}
    return names, statistics


def batch_norms():
    """tests/pytorch/Inputs/batch_norm.nnd: conv-BN-relu twice (BatchNorm2d, one with
    momentum and epsilon given), then dense-BN-relu (BatchNorm1d); nnd's momentum is
    PyTorch's. A frozen layer (--set 'freeze = ...') is a BatchNorm in eval mode."""
    c1, n1 = conv2d("conv2d_1", 1, 4, 3)
    c2, n2 = conv2d("conv2d_2", 4, 3, 3)
    d1, n3 = dense("dense_1", 4 * 4 * 3, 6)
    d2, n4 = dense("dense_2", 6, 3)
    for n in (n1, n2, n3):  # use_bias=false before each batch norm: torch's bias is held at zero
        n.pop(next(k for k in n if k.endswith(".bias")))
    b1, b2 = torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.3)
    b3 = torch.nn.BatchNorm1d(6, momentum=0.05)
    (m1, s1), (m2, s2), (m3, s3) = (batch_norm(n, b) for n, b in
                                    (("batch_norm_1", b1), ("bn_b", b2), ("batch_norm_3", b3)))

    def forward(image):  # NCHW inside; flattened in NHWC order as nnd does
        x = torch.relu(b1(c1(image.unsqueeze(1))))
        x = torch.relu(b2(c2(x)))
        return d2(torch.relu(b3(d1(x.permute(0, 2, 3, 1).flatten(1)))))

    def fixup():
        with torch.no_grad():
            for layer in (b1, b2, b3):  # gamma near 1 (its default), so that the relu after
                layer.weight.add_(1)     # it cuts: beside a relu open on a whole channel, the
            for layer in (c1, c2, d1):   # next batch norm makes beta's gradient 0 + rounding
                layer.bias.zero_()
        for layer in (c1, c2, d1):
            layer.bias.requires_grad_(False)

    model = torch.nn.ModuleList([c1, c2, d1, d2, b1, b2, b3])
    model.fixup, model.statistics = fixup, {**s1, **s2, **s3}
    model.layers = {"batch_norm_1": b1, "bn_b": b2, "batch_norm_3": b3}
    rng = np.random.default_rng(8)
    batch = {"image": rng.random((8, 8, 8), dtype=np.float32), "label": rng.integers(0, 3, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, {**n1, **n2, **n3, **n4, **m1, **m2, **m3}, batch, loss, "tests/pytorch/Inputs/batch_norm.nnd"


def attention():
    """tests/runtime/Inputs/attention_zoo.nnd: self-attention over the rows of the image"""
    ln1, m1 = norm("layer_norm_1", 6)
    (q, mq), (k, mk), (v, mv), (res, mr) = (dense(f"dense_{i}", 6, 4) for i in (1, 2, 3, 4))
    ln2, m2 = norm("layer_norm_2", 4)
    out, mo = dense("dense_5", 24, 4)

    def forward(image):
        x = ln1(image * 4)
        a = torch.softmax(q(x) @ k(x).transpose(1, 2) / 2, dim=-1) @ v(x)
        return out(ln2(a + res(x)).flatten(1))

    model = torch.nn.ModuleList([ln1, q, k, v, res, ln2, out])
    rng = np.random.default_rng(4)
    batch = {"image": rng.random((8, 6, 6), dtype=np.float32), "label": rng.integers(0, 4, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, {**m1, **mq, **mk, **mv, **mr, **m2, **mo}, batch, loss, "tests/runtime/Inputs/attention_zoo.nnd"


def recurrent():
    """tests/pytorch/Inputs/recurrent.nnd: torch.nn.RNN, LSTM and GRU. nnd folds the
    input and recurrent biases of RNN and LSTM into one (torch's b_hh is held at
    zero) and keeps only the candidate's recurrent bias of a GRU (b_hh[2H:])."""
    rnn = torch.nn.RNN(3, 4, batch_first=True)
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    gru = torch.nn.GRU(4, 4, batch_first=True)
    out, mo = dense("dense_1", 4, 2)

    def fixup():  # after the weights are drawn: the biases nnd does not have are zero and stay so
        with torch.no_grad():
            rnn.bias_hh_l0.zero_(), lstm.bias_hh_l0.zero_(), gru.bias_hh_l0[:8].zero_()
        rnn.bias_hh_l0.register_hook(lambda g: torch.zeros_like(g))
        lstm.bias_hh_l0.register_hook(lambda g: torch.zeros_like(g))
        gru.bias_hh_l0.register_hook(lambda g: torch.cat([torch.zeros(8), g[8:]]))

    names = {}
    for layer, module in (("simple_rnn_1", rnn), ("lstm_1", lstm), ("gru_1", gru)):
        names[f"{layer}.kernel"] = (module.weight_ih_l0, np.transpose)
        names[f"{layer}.recurrent_kernel"] = (module.weight_hh_l0, np.transpose)
        names[f"{layer}.bias"] = (module.bias_ih_l0, same)
    names["gru_1.recurrent_bias"] = (gru.bias_hh_l0, lambda a: a[8:])
    model = torch.nn.ModuleList([rnn, lstm, gru, out])
    model.fixup = fixup
    rng = np.random.default_rng(6)
    batch = {"sequence": rng.standard_normal((8, 5, 3), dtype=np.float32),
             "label": rng.integers(0, 2, 8).astype(np.int32)}

    def loss(b):
        h, _ = rnn(b["sequence"])
        h, _ = lstm(h)
        h, _ = gru(h)
        return F.cross_entropy(out(h[:, -1]), b["label"].long())

    return model, {**names, **mo}, batch, loss, "tests/pytorch/Inputs/recurrent.nnd"


def softsign():
    """tests/runtime/Inputs/softsign_mlp.nnd: softsign, a custom operator in C
    (tests/runtime/Inputs/softsign.c), here as torch's own arithmetic"""
    (l1, n1), (l2, n2), (l3, n3) = dense("dense_1", 4, 16), dense("dense_2", 16, 16), dense("dense_3", 16, 3)
    act = lambda x: x / (1 + x.abs())
    model = torch.nn.ModuleList([l1, l2, l3])
    rng = np.random.default_rng(7)
    batch = {"features": rng.standard_normal((16, 4), dtype=np.float32),
             "species": rng.integers(0, 3, 16).astype(np.int32)}
    loss = lambda b: F.cross_entropy(l3(act(l2(act(l1(b["features"]))))), b["species"].long())
    return model, {**n1, **n2, **n3}, batch, loss, "tests/runtime/Inputs/softsign_mlp.nnd"


# ---- recurrent layers written out, for the options torch.nn does not have ----
# (activation=, recurrent_activation=, go_backwards=: Keras's semantics)

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": same}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


class Recurrent(torch.nn.Module):
    """simple_rnn, lstm or gru step by step, with nnd's parameters as they are:
    kernel [D, G*H], recurrent_kernel [H, G*H] and bias [G*H] (gates i, f, g, o
    for an LSTM; r, z, n for a GRU, whose candidate keeps its recurrent bias
    [H] apart). `activation` replaces tanh on the candidate and, in an LSTM, on
    the cell's output (h = o * act(c)); `recurrent_activation` replaces the
    gates' sigmoid. go_backwards reads the steps last to first, and a returned
    sequence stays in that order (Keras's go_backwards). A mask [B, T] of 0/1
    (read in the same order as the steps) holds the carries, h and an LSTM's c,
    where it is 0, and a returned sequence repeats the carried h there."""

    def __init__(self, cell, fan_in, units, return_sequences=False, activation="tanh",
                 recurrent_activation="sigmoid", go_backwards=False):
        super().__init__()
        width = GATES[cell] * units
        self.cell, self.units, self.return_sequences = cell, units, return_sequences
        self.act, self.gate = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
        self.go_backwards = go_backwards
        self.kernel = torch.nn.Parameter(torch.zeros(fan_in, width))
        self.recurrent_kernel = torch.nn.Parameter(torch.zeros(units, width))
        self.bias = torch.nn.Parameter(torch.zeros(width))
        if cell == "gru":
            self.recurrent_bias = torch.nn.Parameter(torch.zeros(units))

    def names(self, layer):
        """nnd's checkpoint name of each parameter (the layouts are the same)"""
        return {f"{layer}.{n}": (p, same) for n, p in self.named_parameters()}

    def step(self, x, h, c):
        zx, zh = x @ self.kernel + self.bias, h @ self.recurrent_kernel
        if self.cell == "simple_rnn":
            return self.act(zx + zh), c
        if self.cell == "lstm":
            i, f, g, o = (zx + zh).chunk(4, dim=1)
            c = self.gate(f) * c + self.gate(i) * self.act(g)
            return self.gate(o) * self.act(c), c
        (xr, xz, xn), (hr, hz, hn) = zx.chunk(3, dim=1), zh.chunk(3, dim=1)
        r, z = self.gate(xr + hr), self.gate(xz + hz)
        n = self.act(xn + r * (hn + self.recurrent_bias))
        return (1 - z) * n + z * h, c

    def forward(self, x, mask=None):
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        h = c = x.new_zeros(x.shape[0], self.units)
        states = []
        for t in range(x.shape[1]):
            stepped, carried = self.step(x[:, t], h, c)
            if mask is None:
                h, c = stepped, carried
            else:  # where, not m * new + (1 - m) * old: an all-ones mask changes no bit
                real = mask[:, t, None] > 0
                h, c = torch.where(real, stepped, h), torch.where(real, carried, c)
            states.append(h)
        return torch.stack(states, dim=1) if self.return_sequences else h


class Bidirectional(torch.nn.Module):
    """bidirectional(LAYER, merge=concat|sum): LAYER forwards and a copy with its
    own weights and go_backwards=true; a returned backward sequence is flipped
    back, so that position t holds the state after reading steps T-1..t (Keras's
    Bidirectional); [forward, backward] concatenated on the last axis, or added"""

    def __init__(self, cell, fan_in, units, merge="concat", **options):
        super().__init__()
        self.ahead = Recurrent(cell, fan_in, units, **options)
        self.back = Recurrent(cell, fan_in, units, go_backwards=True, **options)
        self.merge = merge

    def names(self, layer):
        return {**self.ahead.names(f"{layer}.forward"), **self.back.names(f"{layer}.backward")}

    def forward(self, x, mask=None):
        ahead, back = self.ahead(x, mask), self.back(x, mask)
        if self.back.return_sequences:
            back = back.flip(1)
        return torch.cat([ahead, back], dim=-1) if self.merge == "concat" else ahead + back


def from_torch(cell, module, reverse=False):
    """a Recurrent computing what torch.nn.RNN/LSTM/GRU `module` computes (its
    reverse direction, going backwards, if `reverse`): the weights transposed,
    the two biases added (a GRU's only for r and z: its candidate's recurrent
    bias is inside r * (...))"""
    H, suffix = module.hidden_size, "_reverse" if reverse else ""
    w = lambda name: getattr(module, f"{name}_l0{suffix}")
    ours = Recurrent(cell, module.input_size, H, return_sequences=True,
                     go_backwards=reverse).double()
    with torch.no_grad():
        ours.kernel.copy_(w("weight_ih").T)
        ours.recurrent_kernel.copy_(w("weight_hh").T)
        folded = w("bias_hh").clone()
        if cell == "gru":
            folded[2 * H:] = 0
            ours.recurrent_bias.copy_(w("bias_hh")[2 * H:])
        ours.bias.copy_(w("bias_ih") + folded)
    return ours


def check_cells():
    """the written-out cells with their default activations against torch.nn's
    RNN, LSTM and GRU in float64: the outputs, and the gradients of a random
    projection of them with respect to the input and every weight. Exits if one
    differs: then the oracle of the option comparisons would be wrong."""
    refs = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    with torch.random.fork_rng():
        torch.manual_seed(11)
        for cell, cls in refs.items():
            ref = cls(3, 5, batch_first=True).double()
            ours = from_torch(cell, ref)
            x = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
            project = torch.randn(4, 6, 5, dtype=torch.float64)
            want = ref(x)[0]
            (want * project).sum().backward()
            want_dx, x.grad = x.grad, None
            got = ours(x)
            (got * project).sum().backward()
            H = ref.hidden_size
            bias_hh = ref.bias_hh_l0.grad[2 * H:] if cell == "gru" else None
            pairs = [(got, want), (x.grad, want_dx), (ours.kernel.grad, ref.weight_ih_l0.grad.T),
                     (ours.recurrent_kernel.grad, ref.weight_hh_l0.grad.T),
                     (ours.bias.grad, ref.bias_ih_l0.grad)]
            if cell == "gru":
                pairs.append((ours.recurrent_bias.grad, bias_hh))
            err = max(rel_error(a.detach().numpy(), b.detach().numpy()) for a, b in pairs)
            print(f"  written-out {cell:10s} against torch.nn.{cls.__name__:4s} rel.err {err:.2e}")
            if not err <= 1e-10:
                raise SystemExit(f"compare.py: the written-out {cell} is not torch's")


def bidirectional_from_torch(cell, module, return_sequences):
    """a Bidirectional computing what torch.nn's `module` with bidirectional=True does"""
    ours = Bidirectional(cell, module.input_size, module.hidden_size,
                         return_sequences=return_sequences).double()
    ours.ahead.load_state_dict(from_torch(cell, module).state_dict())
    ours.back.load_state_dict(from_torch(cell, module, reverse=True).state_dict())
    return ours


def check_bidirectional():
    """the written-out Bidirectional against torch.nn's RNN, LSTM and GRU with
    bidirectional=True in float64: torch also aligns the reverse direction's
    outputs with the input, and its h_n holds both directions' final states.
    Compared: the sequences, the final states, and the gradient of a random
    projection of both with respect to the input."""
    refs = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    with torch.random.fork_rng():
        torch.manual_seed(12)
        for cell, cls in refs.items():
            ref = cls(3, 5, batch_first=True, bidirectional=True).double()
            x = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
            f64 = torch.float64
            project = torch.randn(4, 6, 10, dtype=f64), torch.randn(4, 10, dtype=f64)
            want_seq, final = ref(x)
            h_n = final[0] if cell == "lstm" else final
            want_final = torch.cat([h_n[0], h_n[1]], dim=1)
            ((want_seq * project[0]).sum() + (want_final * project[1]).sum()).backward()
            want_dx, x.grad = x.grad, None
            got_seq = bidirectional_from_torch(cell, ref, True)(x)
            got_final = bidirectional_from_torch(cell, ref, False)(x)
            ((got_seq * project[0]).sum() + (got_final * project[1]).sum()).backward()
            pairs = [(got_seq, want_seq), (got_final, want_final), (x.grad, want_dx)]
            err = max(rel_error(a.detach().numpy(), b.detach().numpy()) for a, b in pairs)
            print(f"  written-out bidirectional {cell:10s} against torch.nn.{cls.__name__:4s}"
                  f" rel.err {err:.2e}")
            if not err <= 1e-10:
                raise SystemExit(f"compare.py: the written-out bidirectional {cell} is not torch's")


def padding_mask(rng, rows, steps):
    """a batch's mask input, 0/1 [rows, steps]: the first row all real steps, the
    last with a leading zero and one in the middle, the others real steps then
    trailing padding of a random length (1 .. steps - 1)"""
    lengths = rng.integers(1, steps, rows)
    lengths[0] = steps
    mask = (np.arange(steps) < lengths[:, None]).astype(np.float32)
    mask[-1] = 1
    mask[-1, [0, steps // 2]] = 0
    return mask


def check_masks():
    """mask= on the written-out layers, forwards and backwards, in float64: with
    an all-ones mask the returned sequence is the unmasked layer's, bit for bit;
    with padding_mask's trailing padding and holes each row's final state is the
    unmasked layer's final state on that row's real steps alone, bit for bit
    (the rows with one mask pattern compared at once: same shapes, same sums)"""
    rng = np.random.default_rng(13)
    with torch.random.fork_rng():
        torch.manual_seed(13)
        for cell in GATES:
            for backwards in (False, True):
                seq = Recurrent(cell, 3, 5, True, go_backwards=backwards).double()
                with torch.no_grad():
                    for p in seq.parameters():
                        p.normal_(0, 0.5)
                final = Recurrent(cell, 3, 5, go_backwards=backwards).double()
                final.load_state_dict(seq.state_dict())
                x = torch.randn(8, 6, 3, dtype=torch.float64)
                ones = torch.equal(seq(x, torch.ones(8, 6)), seq(x))
                mask = torch.from_numpy(padding_mask(rng, 8, 6))
                got = final(x, mask)
                real = all(torch.equal(got[rows], final(x[:, pattern > 0])[rows])
                           for pattern in torch.unique(mask, dim=0)
                           for rows in [(mask == pattern).all(dim=1)])
                direction = "backwards" if backwards else "forwards"
                verdict = lambda ok: "same" if ok else "DIFFERENT"
                print(f"  masked {cell:10s} {direction:9s} all ones: {verdict(ones)};"
                      f" padding and holes: {verdict(real)}")
                if not (ones and real):
                    raise SystemExit(f"compare.py: the written-out {cell}'s mask is wrong")


def recurrent_written():
    """tests/pytorch/Inputs/recurrent.nnd with the written-out cells: the same
    comparison as recurrent(), through the oracle of the option models"""
    check_cells()
    layers = {"simple_rnn_1": Recurrent("simple_rnn", 3, 4, return_sequences=True),
              "lstm_1": Recurrent("lstm", 4, 4, return_sequences=True),
              "gru_1": Recurrent("gru", 4, 4)}
    return stacked(layers, 4, "tests/pytorch/Inputs/recurrent.nnd")


def stacked(layers, width, source):
    """recurrent layers one after another, then dense(., 2) and softmax
    cross-entropy, on a batch of 8 sequences of 5 steps of 3 features"""
    out, mo = dense("dense_1", width, 2)
    names = {n: w for layer, m in layers.items() for n, w in m.names(layer).items()}
    model = torch.nn.ModuleList([*layers.values(), out])
    rng = np.random.default_rng(6)
    batch = {"sequence": rng.standard_normal((8, 5, 3), dtype=np.float32),
             "label": rng.integers(0, 2, 8).astype(np.int32)}

    def loss(b):
        h = b["sequence"]
        for m in layers.values():
            h = m(h)
        return F.cross_entropy(out(h), b["label"].long())

    return model, {**names, **mo}, batch, loss, source


def recurrent_backwards():
    """tests/pytorch/Inputs/recurrent_backwards.nnd: go_backwards=true in a stack
    (returned sequences in reversed order), and a bidirectional GRU"""
    check_cells()
    rnn = Recurrent("simple_rnn", 3, 4, return_sequences=True, go_backwards=True)
    lstm = Recurrent("lstm", 4, 4, return_sequences=True, go_backwards=True)
    ahead, back = Recurrent("gru", 4, 3), Recurrent("gru", 4, 3, go_backwards=True)
    out, mo = dense("dense_1", 6, 2)
    names = {**rnn.names("simple_rnn_1"), **lstm.names("lstm_1"), **ahead.names("gru_1"),
             **back.names("gru_2"), **mo}
    model = torch.nn.ModuleList([rnn, lstm, ahead, back, out])
    rng = np.random.default_rng(8)
    batch = {"sequence": rng.standard_normal((8, 5, 3), dtype=np.float32),
             "label": rng.integers(0, 2, 8).astype(np.int32)}

    def loss(b):
        h = lstm(rnn(b["sequence"]))
        return F.cross_entropy(out(torch.cat([ahead(h), back(h)], dim=1)), b["label"].long())

    return model, names, batch, loss, "tests/pytorch/Inputs/recurrent_backwards.nnd"


def recurrent_activations():
    """tests/pytorch/Inputs/recurrent_activations.nnd: each of tanh, relu,
    sigmoid and linear as activation= and as recurrent_activation="""
    check_cells()
    R = Recurrent
    layers = {"simple_rnn_1": R("simple_rnn", 3, 4, True, activation="relu"),
              "lstm_1": R("lstm", 4, 4, True, activation="relu"),
              "lstm_2": R("lstm", 4, 4, True, activation="linear", recurrent_activation="tanh"),
              "gru_1": R("gru", 4, 4, True, activation="sigmoid", recurrent_activation="linear"),
              "lstm_3": R("lstm", 4, 4, activation="tanh", recurrent_activation="relu")}
    return stacked(layers, 4, "tests/pytorch/Inputs/recurrent_activations.nnd")


def recurrent_bidirectional():
    """tests/pytorch/Inputs/recurrent_bidirectional.nnd: bidirectional lstm, gru
    and simple_rnn (activation=, name=), merged by concat and by sum"""
    check_cells()
    check_bidirectional()
    B = Bidirectional
    layers = {"lstm_1": B("lstm", 3, 4, return_sequences=True),
              "gru_1": B("gru", 8, 3, "sum", return_sequences=True),
              "rnn": B("simple_rnn", 3, 3, "sum", activation="sigmoid")}
    return stacked(layers, 3, "tests/pytorch/Inputs/recurrent_bidirectional.nnd")


def recurrent_mask():
    """tests/pytorch/Inputs/recurrent_mask.nnd: mask= on a stack (an lstm's
    returned sequence into a gru), on a simple_rnn going backwards and inside a
    bidirectional gru; the batch's mask from padding_mask"""
    check_cells()
    check_bidirectional()
    check_masks()
    lstm, gru = Recurrent("lstm", 3, 4, return_sequences=True), Recurrent("gru", 4, 4)
    rnn, both = Recurrent("simple_rnn", 3, 3, go_backwards=True), Bidirectional("gru", 3, 2)
    out, mo = dense("dense_1", 11, 2)
    names = {**lstm.names("lstm_1"), **gru.names("gru_1"), **rnn.names("simple_rnn_1"),
             **both.names("gru_2"), **mo}
    model = torch.nn.ModuleList([lstm, gru, rnn, both, out])
    rng = np.random.default_rng(10)
    batch = {"sequence": rng.standard_normal((8, 6, 3), dtype=np.float32),
             "mask": padding_mask(rng, 8, 6),
             "label": rng.integers(0, 2, 8).astype(np.int32)}

    def loss(b):
        x, m = b["sequence"], b["mask"]
        h = torch.cat([gru(lstm(x, m), m), rnn(x, m), both(x, m)], dim=1)
        return F.cross_entropy(out(h), b["label"].long())

    return model, names, batch, loss, "tests/pytorch/Inputs/recurrent_mask.nnd"


def lstm_seed():
    """examples/lstm_seed.nnd: LSTM(100, activation=relu) -> dense(50, relu) ->
    dense(1) -> sigmoid, binary cross-entropy on probabilities"""
    check_cells()
    lstm = Recurrent("lstm", 10, 100, activation="relu")
    (d1, n1), (d2, n2) = dense("dense_1", 100, 50), dense("dense_2", 50, 1)
    model = torch.nn.ModuleList([lstm, d1, d2])
    rng = np.random.default_rng(9)
    batch = {"sequence": (rng.integers(-4, 5, (32, 10, 10)) / 4).astype(np.float32),
             "label": rng.integers(0, 2, (32, 1)).astype(np.float32)}

    def loss(b):
        p = torch.sigmoid(d2(torch.relu(d1(lstm(b["sequence"])))))
        return F.binary_cross_entropy(p, b["label"])

    return model, {**lstm.names("lstm_1"), **n1, **n2}, batch, loss, "examples/lstm_seed.nnd"


def per_position():
    """tests/pytorch/Inputs/per_position.nnd: cross-entropy per position of
    [B, T, V] logits, ignore_index=-1 and label_smoothing=0.1"""
    table = torch.nn.Embedding(11, 8)
    l1, n1 = dense("dense_1", 8, 11)
    model = torch.nn.ModuleList([table, l1])
    rng = np.random.default_rng(5)
    targets = rng.integers(0, 11, (8, 6)).astype(np.int32)
    targets[rng.random((8, 6)) < 0.3] = -1
    targets[0] = -1  # an example with no counted position
    batch = {"tokens": rng.integers(0, 11, (8, 6)).astype(np.int32), "targets": targets}

    def loss(b):
        logits = l1(table(b["tokens"].long()))
        return F.cross_entropy(logits.reshape(-1, 11), b["targets"].long().reshape(-1),
                               ignore_index=-1, label_smoothing=0.1)

    return model, {"embedding_1.table": (table.weight, same), **n1}, batch, loss, \
        "tests/pytorch/Inputs/per_position.nnd"


def sinusoidal(steps, width):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...), in float64"""
    pos = np.arange(steps)[:, None]
    angle = pos / np.power(10000.0, (np.arange(width) // 2 * 2) / width)
    return torch.from_numpy(np.where(np.arange(width) % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32))


def attention_layer(name, width):
    """multi_head_attention's four projections, nnd's names"""
    layers, names = [], {}
    for part in ("query", "key", "value", "output"):
        layer = torch.nn.Linear(width, width)
        layers.append(layer)
        names[f"{name}.{part}.kernel"] = (layer.weight, lambda w: w.T)
        names[f"{name}.{part}.bias"] = (layer.bias, same)
    return layers, names


def multi_head_attention(projections, q_in, kv_in, heads, causal=False, key_mask=None):
    """the written-out attention: per head softmax(Q K^T / sqrt(d/h)), masked, times V"""
    query, key, value, output = projections
    b, t, d = q_in.shape
    split = lambda x: x.reshape(b, -1, heads, d // heads).permute(0, 2, 1, 3)
    q, k, v = split(query(q_in)), split(key(kv_in)), split(value(kv_in))
    scores = q @ k.transpose(-1, -2) / (d // heads) ** 0.5
    keep = torch.ones(scores.shape[-2:], dtype=torch.bool)
    if causal:
        keep = torch.tril(keep)
    keep = keep.expand(scores.shape)
    if key_mask is not None:
        keep = keep & (key_mask[:, None, None, :] > 0)
    weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
    weights = torch.nan_to_num(weights)  # a row with every key masked: zeros
    return output((weights @ v).permute(0, 2, 1, 3).reshape(b, -1, d))


def transformer_block():
    """tests/pytorch/Inputs/transformer_block.nnd: a pre-norm causal decoder block"""
    table = torch.nn.Embedding(13, 16)
    ln1, m1 = norm("layer_norm_1", 16)
    attn, ma = attention_layer("multi_head_attention_1", 16)
    ln2, m2 = norm("layer_norm_2", 16)
    up, n1 = dense("dense_1", 16, 32)
    down, n2 = dense("dense_2", 32, 16)
    ln3, m3 = norm("layer_norm_3", 16)
    head, n3 = dense("dense_3", 16, 13)
    model = torch.nn.ModuleList([table, ln1, *attn, ln2, up, down, ln3, head])
    pe = sinusoidal(8, 16)
    rng = np.random.default_rng(6)
    batch = {"tokens": rng.integers(0, 13, (4, 8)).astype(np.int32),
             "targets": rng.integers(0, 13, (4, 8)).astype(np.int32)}

    def loss(b):
        x = table(b["tokens"].long()) + pe
        h = ln1(x)
        x = x + multi_head_attention(attn, h, h, 4, causal=True)
        x = x + down(F.gelu(up(ln2(x))))
        return F.cross_entropy(head(ln3(x)).reshape(-1, 13), b["targets"].long().reshape(-1))

    names = {"embedding_1.table": (table.weight, same), **m1, **ma, **m2, **n1, **n2, **m3, **n3}
    return model, names, batch, loss, "tests/pytorch/Inputs/transformer_block.nnd"


def long_attention():
    """tests/pytorch/Inputs/long_attention.nnd: causal attention over 19 steps"""
    table = torch.nn.Embedding(13, 16)
    attn, ma = attention_layer("multi_head_attention_1", 16)
    head, n1 = dense("dense_1", 16, 13)
    model = torch.nn.ModuleList([table, *attn, head])
    rng = np.random.default_rng(7)
    batch = {"tokens": rng.integers(0, 13, (256, 19)).astype(np.int32),
             "targets": rng.integers(0, 13, (256, 19)).astype(np.int32)}

    def loss(b):
        x = table(b["tokens"].long())
        x = x + multi_head_attention(attn, x, x, 2, causal=True)
        return F.cross_entropy(head(x).reshape(-1, 13), b["targets"].long().reshape(-1))

    names = {"embedding_1.table": (table.weight, same), **ma, **n1}
    return model, names, batch, loss, "tests/pytorch/Inputs/long_attention.nnd"


def residual_blocks():
    """tests/runtime/Inputs/residual_blocks.nnd: `repeat 2 residual(x, width, relu)`,
    two instances of a user-defined block, each with its own weights"""
    inp, n0 = dense("dense_1", 4, 8)
    blocks = [(dense(f"residual_{k}.dense_1", 8, 16), dense(f"residual_{k}.dense_2", 16, 8))
              for k in (1, 2)]
    out, n3 = dense("dense_2", 8, 4)

    def forward(image):
        x = inp(image.flatten(1))
        for (l1, _), (l2, _) in blocks:
            x = x + l2(torch.relu(l1(x)))
        return out(x)

    model = torch.nn.ModuleList([inp, out] + [l for pair in blocks for l, _ in pair])
    names = {**n0, **n3}
    for pair in blocks:
        for _, n in pair:
            names.update(n)
    rng = np.random.default_rng(5)
    batch = {"image": rng.random((8, 2, 2), dtype=np.float32), "label": rng.integers(0, 4, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, names, batch, loss, "tests/runtime/Inputs/residual_blocks.nnd"


class Attention(torch.nn.Module):
    """nnd's multi_head_attention written out: projections, heads, softmax of
    the scaled scores with masked weights exactly 0 (a row with no key kept
    is all 0, where scaled_dot_product_attention gives NaN), output projection"""

    def __init__(self, name, dim, heads, causal=False):
        super().__init__()
        self.heads, self.causal = heads, causal
        parts = {p: dense(f"{name}.{p}", dim, dim) for p in ("query", "key", "value", "output")}
        self.proj = torch.nn.ModuleDict({p: layer for p, (layer, _) in parts.items()})
        self.names = {n: w for _, m in parts.values() for n, w in m.items()}

    def split(self, x):
        B, T, D = x.shape
        return x.view(B, T, self.heads, D // self.heads).transpose(1, 2)

    def forward(self, q, kv, mask=None):
        Q, K, V = (self.split(self.proj[p](x)) for p, x in (("query", q), ("key", kv), ("value", kv)))
        B, H, Tq, d = Q.shape
        keep = torch.ones(B, 1, Tq, K.shape[2], dtype=torch.bool)
        if self.causal:
            keep = keep & torch.ones(Tq, K.shape[2], dtype=torch.bool).tril()
        if mask is not None:
            keep = keep & (mask != 0)[:, None, None, :]
        scores = (Q @ K.transpose(-1, -2) / d ** 0.5).masked_fill(~keep, -1e30)
        w = torch.softmax(scores, dim=-1) * keep
        return self.proj["output"]((w @ V).transpose(1, 2).reshape(B, Tq, H * d))


def check_attention():
    """the written-out attention against torch.nn.MultiheadAttention (with the
    same projections) where no row is all masked"""
    torch.manual_seed(12)
    att = Attention("a", 8, 2, causal=True).double()
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([att.proj[p].weight for p in ("query", "key", "value")]))
        ref.in_proj_bias.copy_(torch.cat([att.proj[p].bias for p in ("query", "key", "value")]))
        ref.out_proj.weight.copy_(att.proj["output"].weight)
        ref.out_proj.bias.copy_(att.proj["output"].bias)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    want = ref(x, x, x, attn_mask=future, key_padding_mask=mask == 0, need_weights=False)[0]
    err = rel_error(att(x, x, mask).detach().numpy(), want.detach().numpy())
    print(f"  written-out attention against torch.nn.MultiheadAttention rel.err {err:.2e}")
    if not err <= 1e-10:
        raise SystemExit("compare.py: the written-out attention is not torch's")


def mha():
    """tests/pytorch/Inputs/attention.nnd: causal self-attention, cross-attention
    under a key padding mask (a row all padding), gelu (both forms) and erf"""
    check_attention()
    a, c = Attention("multi_head_attention_1", 8, 2, causal=True), Attention("cross", 8, 4)
    out, mo = dense("dense_1", 40, 3)
    model = torch.nn.ModuleList([a, c, out])
    rng = np.random.default_rng(13)
    mask = np.ones((8, 5), dtype=np.float32)
    mask[1, 3:] = 0
    mask[2, 0] = 0
    mask[3, :] = 0  # every key padded: the cross-attention gives zeros
    mask[4, 1:4] = 0
    batch = {"sequence": rng.standard_normal((8, 5, 8), dtype=np.float32), "mask": mask,
             "label": rng.integers(0, 3, 8).astype(np.int32)}

    # softmax does not see the key biases: their gradient is zero but for rounding
    names = {**a.names, **c.names, **mo}
    model.rounding_only = {n for n in names if n.endswith(".key.bias")}

    def loss(b):
        x = b["sequence"]
        h1 = a(x, x)
        h2 = c(h1, x, b["mask"])
        h = F.gelu(h2) + F.gelu(h1 * 2, approximate="tanh") + torch.erf(h1 * 3)
        return F.cross_entropy(out(h.flatten(1)), b["label"].long())

    return model, names, batch, loss, "tests/pytorch/Inputs/attention.nnd"


def bert():
    """tests/pytorch/Inputs/bert.nnd: a two-block post-norm encoder with a key
    padding mask, masked-LM scores through the tied token table (ignore_index
    -1) and next-sentence prediction from [CLS]"""
    token, segment, position = (torch.nn.Embedding(n, 16) for n in (102, 2, 8))
    ln0, m0 = norm("layer_norm_1", 16)
    blocks, names = [], {"token.table": (token.weight, same), "segment.table": (segment.weight, same),
                         "position_embedding_1.table": (position.weight, same), **m0}
    for k in (1, 2):
        attn, ma = attention_layer(f"encoder_{k}.multi_head_attention_1", 16)
        (la, na), (up, nu), (down, nd), (lb, nb) = (norm(f"encoder_{k}.layer_norm_1", 16),
                                                    dense(f"encoder_{k}.dense_1", 16, 32),
                                                    dense(f"encoder_{k}.dense_2", 32, 16),
                                                    norm(f"encoder_{k}.layer_norm_2", 16))
        blocks.append((attn, la, up, down, lb))
        names.update({**ma, **na, **nu, **nd, **nb})
    (transform, n1), (ln, n2) = dense("dense_1", 16, 16), norm("layer_norm_2", 16)
    (pool, n3), (head, n4) = dense("dense_2", 16, 16), dense("dense_3", 16, 2)
    names.update({**n1, **n2, **n3, **n4})
    model = torch.nn.ModuleList([token, segment, position, ln0, transform, ln, pool, head] +
                                [m for b in blocks for m in (*b[0], *b[1:])])
    rng = np.random.default_rng(7)
    tokens = rng.integers(5, 102, (6, 8)).astype(np.int32)
    tokens[:, 0] = 2  # [CLS]
    tokens[1, 5:] = 0  # [PAD]: masked keys
    tokens[4, 3:] = 0
    targets = np.where(rng.random((6, 8)) < 0.3, rng.integers(5, 102, (6, 8)), -1).astype(np.int32)
    targets[tokens == 0] = -1
    batch = {"tokens": tokens, "segments": (np.arange(8) >= 4).astype(np.int32)[None].repeat(6, 0),
             "mlm_targets": targets, "nsp": rng.integers(0, 2, 6).astype(np.int32)}

    def loss(b):
        ids = b["tokens"].long()
        keep = (ids > 0).float()
        x = ln0(token(ids) + segment(b["segments"].long()) + position.weight)
        for attn, la, up, down, lb in blocks:
            x = la(x + multi_head_attention(attn, x, x, 4, key_mask=keep))
            x = lb(x + down(F.gelu(up(x))))
        mlm = ln(F.gelu(transform(x))) @ token.weight.T
        nsp = head(torch.tanh(pool(x[:, 0])))
        return (F.cross_entropy(mlm.reshape(-1, 102), b["mlm_targets"].long().reshape(-1), ignore_index=-1) +
                F.cross_entropy(nsp, b["nsp"].long()))

    return model, names, batch, loss, "tests/pytorch/Inputs/bert.nnd"



def resnet_blocks():
    """tests/pytorch/Inputs/resnet_blocks.nnd: a conv-BN-relu stem, an identity
    block and a projection block (strided 3x3 with padding same, a strided 1x1
    conv-BN shortcut) as examples/resnet.nnd writes them, global average
    pooling, dense; BatchNorm2d in training mode, then eval mode (--set
    'freeze = ...' makes a block's batch norms eval-mode layers)"""
    convs, norms, names, statistics, layers = [], [], {}, {}, {}

    def conv_bn(prefix, channels, filters, size=3, stride=1, bn="batch_norm_1", momentum=0.1):
        conv, n = conv2d(f"{prefix}conv2d_1", channels, filters, size, stride=stride, bias=False)
        layer = torch.nn.BatchNorm2d(filters, momentum=momentum)
        m, st = batch_norm(f"{prefix}{bn}", layer)
        convs.append(conv), norms.append(layer)
        names.update({**n, **m}), statistics.update(st)
        layers[f"{prefix}{bn}"] = layer
        return lambda x: layer(conv(F.pad(x, tf_same_pad(x, size, stride)) if size > 1 else x))

    stem = conv_bn("conv_bn_1.", 1, 4)
    i1, i2 = conv_bn("identity_1.conv_bn_1.", 4, 4), conv_bn("identity_1.conv_bn_2.", 4, 4)
    p1, p2 = conv_bn("projection_1.conv_bn_1.", 4, 6, stride=2), conv_bn("projection_1.conv_bn_2.", 6, 6)
    shortcut = conv_bn("projection_1.", 4, 6, size=1, stride=2, momentum=0.2)
    head, nh = dense("dense_1", 6, 3)
    names.update(nh)

    def forward(image):
        x = torch.relu(stem(image.unsqueeze(1)))
        x = torch.relu(x + i2(torch.relu(i1(x))))
        x = torch.relu(shortcut(x) + p2(torch.relu(p1(x))))
        return head(x.mean((2, 3)))

    def fixup():  # gamma near 1 (its default), so that each relu cuts its channel
        with torch.no_grad():
            for layer in norms:
                layer.weight.add_(1)

    model = torch.nn.ModuleList(convs + norms + [head])
    model.fixup, model.statistics, model.layers = fixup, statistics, layers
    rng = np.random.default_rng(21)
    batch = {"image": rng.random((8, 8, 8), dtype=np.float32), "label": rng.integers(0, 3, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, names, batch, loss, "tests/pytorch/Inputs/resnet_blocks.nnd"


def inception_blocks():
    """tests/pytorch/Inputs/inception_blocks.nnd: two Inception blocks (1x1;
    1x1-3x3; 1x1-5x5; 3x3 max pool, stride 1, padding same, then 1x1; joined
    on channels), a strided same-padded conv between them, a depthwise-separable
    conv, global average pooling, dense"""
    layers, names = [], {}

    def conv(name, channels, filters, size, stride=1, what="kernel", **options):
        layer, n = conv2d(name, channels, filters, size, what, stride=stride, **options)
        layers.append(layer), names.update(n)
        return lambda x: layer(F.pad(x, tf_same_pad(x, size, stride)))

    def inception(prefix, channels, f1, r3, f3, r5, f5, fp):
        a = conv(f"{prefix}.conv2d_1", channels, f1, 1)
        b1, b2 = conv(f"{prefix}.conv2d_2", channels, r3, 1), conv(f"{prefix}.conv2d_3", r3, f3, 3)
        c1, c2 = conv(f"{prefix}.conv2d_4", channels, r5, 1), conv(f"{prefix}.conv2d_5", r5, f5, 5)
        d = conv(f"{prefix}.conv2d_6", channels, fp, 1)
        relu = torch.relu
        return lambda x: torch.cat([relu(a(x)), relu(b2(relu(b1(x)))), relu(c2(relu(c1(x)))),
                                    relu(d(F.max_pool2d(x, 3, 1, padding=1)))], 1)

    stem = conv("conv2d_1", 1, 4, 3)
    block1 = inception("inception_1", 4, 2, 2, 3, 2, 2, 2)
    down = conv("conv2d_2", 9, 6, 3, stride=2)
    block2 = inception("inception_2", 6, 2, 3, 3, 2, 3, 2)
    depthwise = conv("separable_conv2d_1", 10, 10, 3, what="depthwise_kernel", groups=10, bias=False)
    pointwise = conv("separable_conv2d_1", 10, 5, 1, what="pointwise_kernel")
    head, nh = dense("dense_1", 5, 3)
    names.update(nh)

    def forward(image):
        x = block1(torch.relu(stem(image.unsqueeze(1))))
        x = block2(torch.relu(down(x)))
        return head(torch.relu(pointwise(depthwise(x))).mean((2, 3)))

    model = torch.nn.ModuleList(layers + [head])
    rng = np.random.default_rng(22)
    batch = {"image": rng.random((8, 8, 8), dtype=np.float32), "label": rng.integers(0, 3, 8).astype(np.int32)}
    loss = lambda b: F.cross_entropy(forward(b["image"]), b["label"].long())
    return model, names, batch, loss, "tests/pytorch/Inputs/inception_blocks.nnd"

def graph_layers():
    """tests/pytorch/Inputs/graph_layers.nnd: GCN, GAT (2 heads), GraphSAGE with
    the mean and the max, written from the papers' formulas per graph with
    index_add_ and scatter_reduce, on two graphs of 6 nodes; node 5 of the
    first graph has no incoming edge"""
    layers, names = [], {}

    def linear(name, what, fan_in, units):
        layer = torch.nn.Linear(fan_in, units, bias=False)
        layers.append(layer), names.update({f"{name}.{what}": (layer.weight, np.transpose)})
        return layer

    def vector(name, what, *shape):
        p = torch.nn.Parameter(torch.zeros(*shape))
        layers.append(torch.nn.ParameterList([p])), names.update({f"{name}.{what}": (p, same)})
        return p

    def gcn(name, fan_in, units):
        w, b = linear(name, "kernel", fan_in, units), vector(name, "bias", units)

        def layer(x, src, dst):  # D^-1/2 (A + I) D^-1/2 x W + b, deg = 1 + in-degree
            h, deg = w(x), 1 + torch.bincount(dst, minlength=x.shape[0]).float()
            c = (deg[src] * deg[dst]).rsqrt()[:, None]
            return h / deg[:, None] + torch.zeros_like(h).index_add_(0, dst, c * h[src]) + b
        return layer

    def sage(name, fan_in, units, aggregate):
        ws, wn = linear(name, "self_kernel", fan_in, units), linear(name, "neighbor_kernel", fan_in, units)
        b = vector(name, "bias", units)

        def layer(x, src, dst):  # a node no edge reaches aggregates to 0
            index = dst[:, None].expand(-1, x.shape[1])
            if aggregate == "mean":
                count = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1).float()[:, None]
                agg = torch.zeros_like(x).index_add_(0, dst, x[src]) / count
            else:
                agg = torch.zeros_like(x).scatter_reduce(0, index, x[src], "amax", include_self=False)
            return ws(x) + wn(agg) + b
        return layer

    def gat(name, fan_in, units, heads):
        w = linear(name, "kernel", fan_in, heads * units)
        a_src, a_dst = vector(name, "attention_source", heads, units), vector(name, "attention_target", heads, units)
        b = vector(name, "bias", heads * units)

        def layer(x, src, dst):  # self loops added; softmax over the edges into each node
            n = x.shape[0]
            loops = torch.arange(n)
            src, dst = torch.cat([src, loops]), torch.cat([dst, loops])
            h = w(x).view(n, heads, units)
            e = F.leaky_relu((h * a_src).sum(-1)[src] + (h * a_dst).sum(-1)[dst], 0.2)
            top = torch.zeros(n, heads).scatter_reduce(0, dst[:, None].expand(-1, heads), e, "amax",
                                                         include_self=False)
            ex = torch.exp(e - top[dst])
            alpha = ex / torch.zeros(n, heads).index_add_(0, dst, ex)[dst]
            out = torch.zeros(n, heads, units).index_add_(0, dst, alpha[..., None] * h[src])
            return out.reshape(n, heads * units) + b
        return layer

    g1, a1 = gcn("gcn_1", 4, 5), gat("gat_1", 5, 3, 2)
    gat_weights = [p for n, (p, _) in names.items() if n.startswith("gat_1.")]
    s1, s2 = sage("sage_1", 6, 4, "mean"), sage("sage_2", 4, 4, "max")
    g2 = gcn("gcn_2", 4, 3)
    model = torch.nn.ModuleList(layers)

    def fixup():  # attention scores far from 0, so that their gradients stand above rounding
        with torch.no_grad():
            for p in gat_weights:
                p.mul_(10)
    model.fixup = fixup
    rng = np.random.default_rng(12)
    edges = rng.integers(0, 6, (2, 2, 12)).astype(np.int32)
    edges[0, 1][edges[0, 1] == 5] = 4  # node 5 of the first graph: no edge in
    labels = rng.integers(0, 3, (2, 6)).astype(np.int32)
    labels[rng.random((2, 6)) < 0.4] = -1
    batch = {"features": rng.standard_normal((2, 6, 4)).astype(np.float32), "edges": edges, "labels": labels}

    def forward(x, src, dst):
        h = torch.relu(a1(torch.relu(g1(x, src, dst)), src, dst))
        return g2(s2(torch.tanh(s1(h, src, dst)), src, dst), src, dst)

    def loss(b):
        scores = torch.stack([forward(b["features"][i], b["edges"][i, 0].long(), b["edges"][i, 1].long())
                              for i in range(2)])
        return F.cross_entropy(scores.reshape(-1, 3), b["labels"].long().reshape(-1), ignore_index=-1)

    return model, names, batch, loss, "tests/pytorch/Inputs/graph_layers.nnd"


MODELS = {"recurrent": recurrent, "mnist_mlp": mnist_mlp, "linear_regression": linear_regression, "binary_classifier": binary_classifier,
          "cnn": cnn, "attention": attention, "softsign": softsign,
          "recurrent_written": recurrent_written, "recurrent_backwards": recurrent_backwards,
          "recurrent_activations": recurrent_activations, "lstm_seed": lstm_seed,
          "recurrent_bidirectional": recurrent_bidirectional, "recurrent_mask": recurrent_mask,
          "per_position": per_position, "transformer_block": transformer_block,
          "long_attention": long_attention,
          "residual_blocks": residual_blocks, "mha": mha, "bert": bert,
          "conv_options": conv_options, "pool_options": pool_options, "batch_norm": batch_norms,
          "resnet_blocks": resnet_blocks, "inception_blocks": inception_blocks,
          "graph_layers": graph_layers}


def parse_call(spec):
    """'sgd(lr=0.1, nesterov=true)' -> ('sgd', {'lr': 0.1, 'nesterov': True})"""
    name, _, args = spec.strip().partition("(")
    kw = {}
    for item in args.rstrip(")").replace(" ", "").split(","):
        if item:
            k, v = item.split("=")
            kw[k] = {"true": True, "false": False}[v] if v in ("true", "false") else float(v)
    return name, kw


def torch_optimizer(spec, params):
    """the optimizer of an `optimizer = ...` setting, with nnd's defaults, in PyTorch"""
    kind, kw = parse_call(spec)
    wd = kw.get("weight_decay", 0.01 if kind == "adamw" else 0.0)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, lr=kw.get("lr", 1e-3), betas=(kw.get("beta1", 0.9), kw.get("beta2", 0.999)),
                   eps=kw.get("eps", 1e-8), weight_decay=wd)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=kw.get("lr", 0.01), momentum=kw.get("momentum", 0.0),
                               nesterov=kw.get("nesterov", False), weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=kw.get("lr", 0.01), alpha=kw.get("alpha", 0.99),
                                   eps=kw.get("eps", 1e-8), momentum=kw.get("momentum", 0.0), weight_decay=wd)
    raise SystemExit(f"compare.py: no PyTorch optimizer for {spec}")


def torch_scheduler(settings, optimizer):
    """the `schedule` and `warmup` settings as torch.optim.lr_scheduler objects"""
    S = torch.optim.lr_scheduler
    parts = []
    if "warmup" in settings:
        w = float(settings["warmup"])
        parts.append(S.LinearLR(optimizer, start_factor=1 / w, end_factor=1.0, total_iters=int(w) - 1))
    if "schedule" in settings:
        kind, kw = parse_call(settings["schedule"])
        if kind == "exponential" and kw.get("every", 1) == 1 and not kw.get("staircase"):
            parts.append(S.ExponentialLR(optimizer, gamma=kw["gamma"]))
        elif kind == "step":
            parts.append(S.StepLR(optimizer, step_size=int(kw["every"]), gamma=kw.get("gamma", 0.1)))
        elif kind == "cosine":
            parts.append(S.CosineAnnealingLR(optimizer, T_max=int(kw["steps"]), eta_min=kw.get("min_lr", 0.0)))
        elif kind != "constant":
            raise SystemExit(f"compare.py: no PyTorch scheduler for {settings['schedule']}")
    return S.ChainedScheduler(parts) if parts else None


def train_settings(path):
    """the `key = value` lines of the train block (one setting a line)"""
    settings, inside = {}, False
    for line in open(path):
        line = line.split("#")[0].strip()
        if line.startswith("train"):
            inside = True
        elif inside and line.startswith("}"):
            break
        elif inside and "=" in line:
            k, v = line.split("=", 1)
            settings[k.strip()] = v.strip()
    return settings


def with_settings(text, extra):
    """the model text with `key = value` settings replaced or added in its train block"""
    keys = {e.split("=", 1)[0].strip() for e in extra}
    out, inside = [], False
    for line in text.split("\n"):
        stripped = line.strip()
        if inside and "=" in stripped and stripped.split("=")[0].strip() in keys:
            continue
        out.append(line)
        if stripped.startswith("train") and stripped.endswith("{"):
            inside = True
            out += [f"  {e}" for e in extra]
        elif stripped.startswith("}"):
            inside = False
    return "\n".join(out)


def frozen_layers(settings):
    """the layers of a `freeze = a` or `freeze = [a, b]` setting"""
    return set(settings.get("freeze", "").strip("[]").replace(" ", "").split(",")) - {""}


def is_frozen(name, frozen):
    """whether a parameter or layer is, or is inside, a frozen layer or block (as nnd's --freeze)"""
    return any(name == f or name.startswith(f + ".") for f in frozen)


def rel_error(a, b):
    # a tensor whose entries are all below 1e-6 is zero up to rounding (the
    # bias of attention keys, say: softmax does not see it); compare it absolutely
    scale = max(float(np.max(np.abs(b))), 1e-6)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def same_counts(nnd, model_file, model, names, statistics):
    """nnd summary's parameter counts against the torch model's: its
    parameters' sum(p.numel()) (trained and frozen), counted through the map
    to nnd's names (the part of a tensor nnd has: torch.nn.RNN, LSTM and GRU
    hold a second bias that nnd folds or leaves out, at zero here), and its
    running statistics"""
    text = subprocess.run([nnd, "summary", model_file], check=True, capture_output=True,
                          text=True).stdout
    count = lambda what: int(re.search(rf"^{what}:\s+(\d+)", text, re.M).group(1))
    ours = count("trainable params") + count("frozen params"), count("non-trainable state")
    every = sum(p.numel() for p in model.parameters())
    torch_counts = (sum(to_nnd(p.detach().numpy()).size for p, to_nnd in names.values()),
                    sum(b.numel() for b in statistics.values()))
    ok = ours == torch_counts
    print(f"nnd summary: {ours[0]} parameters, {ours[1]} statistics; torch: {torch_counts[0]}"
          f"{f' (of {every})' if every != torch_counts[0] else ''}, {torch_counts[1]}: "
          f"{'same' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    for positional in ("model", "nnd", "examples", "work"):
        ap.add_argument(positional, nargs="?")
    ap.add_argument("--oracle", action="store_true",
                    help="check the written-out recurrent layers against torch.nn and themselves")
    ap.add_argument("--set", action="append", default=[], metavar="SETTING",
                    help="a train-block setting to use instead of the file's, e.g. 'optimizer = sgd(lr=0.1)'")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.oracle:
        check_cells()
        check_bidirectional()
        check_masks()
        return
    if args.work is None:
        ap.error("MODEL NND EXAMPLES_DIR WORK_DIR are needed")
    torch.manual_seed(0)
    model, names, batch, loss_fn, source = MODELS[args.model]()
    source = os.path.join(os.path.dirname(args.examples), source)
    os.makedirs(args.work, exist_ok=True)

    # random weights (biases too, so their gradients matter), written in nnd's layout
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.1)
        for n, b in getattr(model, "statistics", {}).items():  # means near 0, variances near 1
            b.copy_(1 + torch.rand(b.shape) * 0.5 if n.endswith("_var") else torch.randn(b.shape) * 0.1)
    if hasattr(model, "fixup"):
        model.fixup()
    weights = {n: np.array(to_nnd(p.detach().numpy()), copy=True) for n, (p, to_nnd) in names.items()}
    statistics = getattr(model, "statistics", {})
    weights.update({n: b.numpy().copy() for n, b in statistics.items()})
    model_file = os.path.join(args.work, "model.nnd")
    open(model_file, "w").write(with_settings(open(source).read(), args.set))
    settings = train_settings(model_file)
    spec = settings.get("optimizer", "adam()")
    write_safetensors(os.path.join(args.work, "weights.st"), weights)
    write_safetensors(os.path.join(args.work, "batch.st"), batch)
    out = os.path.join(args.work, "out.st")
    subprocess.run([args.nnd, "step", model_file, "--weights", os.path.join(args.work, "weights.st"), "--inputs",
                    os.path.join(args.work, "batch.st"), "--out", out, "--steps", str(args.steps), "--no-dropout"],
                   check=True)
    got = read_safetensors(out)

    tb = {k: torch.from_numpy(v.copy()) for k, v in batch.items()}
    optimizer = torch_optimizer(spec, model.parameters())
    scheduler = torch_scheduler(settings, optimizer)
    worst, failed = 0.0, False
    resolved = {}  # per weight: the elements whose first gradient stands above rounding

    def check(what, a, b, tolerance=TOLERANCE):
        nonlocal worst, failed
        err = rel_error(a, b)
        if tolerance == TOLERANCE:
            worst = max(worst, err)
        failed |= not err <= tolerance
        print(f"  {what:40s} rel.err {err:.2e}{'' if err <= tolerance else '  FAIL'}")

    frozen = frozen_layers(settings)
    model.train()
    for name, layer in getattr(model, "layers", {}).items():
        if is_frozen(name, frozen):  # a frozen batch norm: running statistics, no update (Keras's trainable=False)
            layer.eval()
    for n, (p, _) in names.items():
        if is_frozen(n, frozen):
            p.requires_grad_(False)
    for step in range(args.steps):
        optimizer.zero_grad()
        loss = loss_fn(tb)
        loss.backward()
        if step == 0:
            check("loss", got["loss"], loss.detach().numpy())
            for n, (p, to_nnd) in names.items():
                if is_frozen(n, frozen):
                    continue
                g = to_nnd(p.grad.numpy())
                if n in getattr(model, "rounding_only", ()):  # zero in exact arithmetic
                    check(f"grad:{n} (zero, up to 1e-8)", got[f"grad:{n}"], g * 0, 1e-2)
                    resolved[n] = np.zeros(g.shape, dtype=bool)
                    continue
                check(f"grad:{n}", got[f"grad:{n}"], g)
                resolved[n] = (np.abs(g) >= max(RESOLVED * np.max(np.abs(g)), 1e-6)) | (g == 0)
                resolved[n] &= np.max(np.abs(g)) >= 1e-6
        if "clip_norm" in settings:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(settings["clip_norm"]))
        optimizer.step()
        if scheduler:
            scheduler.step()
    for n, (p, to_nnd) in names.items():
        after = to_nnd(p.detach().numpy())
        if is_frozen(n, frozen):
            check(f"{n} (frozen) after {args.steps} steps", got[n], weights[n], 0)
            continue
        r = resolved[n]
        if not r.any():  # every gradient element is rounding noise: so is the update
            print(f"  {n + ' after ' + str(args.steps) + ' steps':40s} gradient is zero up to rounding: not compared")
            continue
        check(f"{n} after {args.steps} steps", got[n][r], after[r])
        check(f"{n} change in {args.steps} steps", got[n] - weights[n], after - weights[n], CHANGE_TOLERANCE)
    for n, b in statistics.items():
        check(f"{n} after {args.steps} steps", got[n], b.numpy())
    model.eval()  # the evaluation step: running statistics
    with torch.no_grad():
        check("eval:loss after the steps", got["eval:loss"], loss_fn(tb).numpy())
    failed |= not same_counts(args.nnd, model_file, model, names, statistics)
    what = "; ".join([spec] + [f"{k} = {v}" for k, v in settings.items()
                               if k in ("schedule", "warmup", "clip_norm", "freeze")])
    print(f"{args.model} with {what}: worst relative error {worst:.2e} (tolerance {TOLERANCE:.0e}): "
          f"{'FAIL' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


main()
