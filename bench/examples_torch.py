#!/usr/bin/python3
"""PyTorch opponent for bench/examples.py: every example's training step and batch-1 inference.

The models are the PyTorch twins of tests/pytorch/param_counts.py, imported, not copied:
that script builds each examples/*.nnd architecture from torch.nn modules and checks that
its parameter count equals `nnd summary`'s. Most twins hold only the layers (a ModuleList,
a Sequential without the activations, an Inception block without forward), because a count
needs no more; this file adds what a training step needs on top of them, per model: the
forward pass the .nnd file computes (activations, dropout, residuals, attention masks,
concatenations, which layer feeds which), its loss, and the prediction `nnd bench` times as
the inference step. The twins are used in PyTorch's NCHW layout where nnd's is NHWC, and
with PyTorch's padding for nnd's `padding=same` (the same shapes and work).

For each model of the spec (a JSON file bench/examples.py writes: the model's path, batch,
inputs, the values its i32 inputs take, its optimizer, learning rate and clip_norm), on
synthetic inputs of nnd's shapes (f32 uniform in [0, 1), valid random integers):
  - the training step: zero_grad, forward, loss, backward, clip_grad_norm_ where the train
    block clips, the optimizer's step (Adam or SGD with the train block's lr; warmup and
    schedules change only the rate and are left out), timed one by one after warm-up;
  - the eval-mode forward at batch 1 under torch.inference_mode();
  - both parameter counts, nnd's (`nnd summary`, param_counts.nnd_counts) and the twin's.
Subnormals are flushed (torch.set_flush_denormal(True)), as nnd's generated code does.
With --onnx-dir DIR the twins of --onnx-models are also exported with torch.onnx.export at
batch 1 (DIR/NAME.onnx, their prediction inputs by nnd's names) for ONNX Runtime.

Prints one JSON object (the last line).
Run:  /usr/bin/python3 bench/examples_torch.py SPEC.json [--threads N] [--onnx-dir DIR]
"""
import argparse
import functools
import json
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in tests/ behind
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests", "pytorch"))
import param_counts  # noqa: E402  (the twins)
from gcn_torch import IndexAddAggregate, gcn_coefficients  # noqa: E402
from rnn_torch import blas_loaded  # noqa: E402
from transformer_torch import sinusoidal_encoding  # noqa: E402
from timing import median_timing as timed  # noqa: E402


# ---- forward passes over the twins' modules, as the .nnd files compute them ----

def mnist_mlp(net, image):
    hidden = F.dropout(torch.relu(net[0](image.flatten(1))), 0.2, net.training)
    return net[1](hidden)


def binary_classifier(net, features):
    return net[1](torch.relu(net[0](features)))


def linear_regression(net, features):
    return net(features)


def sequential_image(net, image):
    """cnn and vgg: their twins are the whole network, activations and dropout included."""
    return net(image.unsqueeze(1))


def inception_block(block, x):
    """param_counts.Inception's four branches, each ending in relu, joined on channels."""
    branches = (block.a(x), block.b(x), block.c(x), block.d(x))
    return torch.cat([torch.relu(b) for b in branches], dim=1)


def inception(net, image):
    stem, pool1, block1, pool2, block2, depthwise, pointwise, gap, flat, head = net
    x = pool1(torch.relu(stem(image.unsqueeze(1))))
    x = inception_block(block2, pool2(inception_block(block1, x)))
    x = torch.relu(pointwise(depthwise(x)))  # separable_conv2d(x, 128, 3, activation=relu)
    return head(flat(gap(x)))


def residual(block, x):
    """An identity block [conv_bn, conv_bn] or a projection block [conv_bn (stride 2),
    the 1x1 shortcut, conv_bn]: relu(shortcut + conv_bn(relu(conv_bn(x))))."""
    if len(block) == 2:
        first, shortcut, second = block[0], None, block[1]
    else:
        first, shortcut, second = block
    h = torch.relu(first(x))
    return torch.relu((x if shortcut is None else shortcut(x)) + second(h))


def resnet(net, image):
    stem, *blocks, head = net
    x = torch.relu(stem(image.unsqueeze(1)))
    for block in blocks:
        x = residual(block, x)
    return head(x.mean(dim=(2, 3)))  # global_avg_pool2d


def recurrent(net, image):
    """rnn, lstm, gru: torch.nn's fused recurrence over the 28 rows, its last output."""
    outputs = net[0](image)[0]
    return net[1](outputs[:, -1])


def relu_lstm(lstm, x):
    """nnd's lstm(x, units, activation=relu) over the twin's nn.LSTM weights (gates i, f, g,
    o, relu for the candidate and the cell output; one bias, bias_ih_l0, as nnd keeps; the
    twin's bias_hh_l0 is the count's `minus` and stays out of the step)."""
    xw = F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0)
    h = c = x.new_zeros(x.shape[0], lstm.hidden_size)
    for xw_t in xw.unbind(1):  # unbind: one backward for all the steps' slices
        i, f, g, o = (xw_t + F.linear(h, lstm.weight_hh_l0)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
        h = torch.sigmoid(o) * torch.relu(c)
    return h


def lstm_seed(net, sequence):
    hidden = torch.relu(net[1](relu_lstm(net[0], sequence)))
    return torch.sigmoid(net[2](hidden))


def gcn(net, features, edges):
    """Two gcn layers, aggregate(x W) + b over the one graph of the batch (batch = 1), the
    coefficients from the edges input each step, as nnd's gcn() computes them."""
    x, src, dst = features[0], edges[0, 0], edges[0, 1]
    aggregate = IndexAddAggregate(src, dst, *gcn_coefficients(src, dst, x.shape[0]))
    h = torch.relu(aggregate(F.linear(x, net[0].weight)) + net[0].bias)
    return (aggregate(F.linear(h, net[1].weight)) + net[1].bias).unsqueeze(0)


@functools.lru_cache(maxsize=None)
def causal_mask(steps):
    return torch.ones(steps, steps, dtype=torch.bool).triu(1)  # True: a key after the query


@functools.lru_cache(maxsize=None)
def positions(steps, dim):
    return sinusoidal_encoding(steps, dim)


def pre_norm(block, x, **mask):
    """param_counts.PreNormBlock: x + attention(norm1(x)), x + down(gelu(up(norm2(x))))."""
    h = block.norm1(x)
    x = x + block.attention(h, h, h, need_weights=False, **mask)[0]
    return x + block.down(F.gelu(block.up(block.norm2(x))))


def transformer_lm(net, tokens):
    embedding, *blocks, norm, head = net
    x = embedding(tokens) + positions(tokens.shape[1], embedding.embedding_dim)
    for block in blocks:
        x = pre_norm(block, x, attn_mask=causal_mask(tokens.shape[1]))
    return head(norm(x))


def bert_encoder(body, tokens, segments):
    """BertBody: embeddings, 2 pre-norm encoders with the [PAD] keys masked, final norm;
    the [CLS] position through the tanh pooler: (sequence, pooled)."""
    x = body.token(tokens) + body.segment(segments) + body.position.weight
    x = body.embedding_norm(x)
    for block in body.encoders:
        x = pre_norm(block, x, key_padding_mask=tokens == 0)
    x = body.final_norm(x)
    return x, torch.tanh(body.pooler(x[:, 0]))


def bert(net, tokens, segments):
    x, pooled = bert_encoder(net, tokens, segments)
    mlm_hidden = net.mlm_norm(F.gelu(net.mlm_transform(x)))
    return net.mlm_decoder(mlm_hidden), net.nsp_head(pooled)  # the tied token table


def bert_finetune(net, tokens, segments):
    return net.classifier(bert_encoder(net, tokens, segments)[1])


# ---- losses, as the .nnd files' `loss` lines ----

def cross_entropy(scores, labels):
    """sparse_categorical_crossentropy over every position, ignore_index=-1"""
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), labels.reshape(-1),
                           ignore_index=-1)


def classify(out, x):
    return cross_entropy(out, x["label"])


LOSSES = {
    "bert": lambda out, x: cross_entropy(out[0], x["mlm_targets"]) + cross_entropy(out[1],
                                                                                   x["nsp"]),
    "binary_classifier": lambda out, x: F.binary_cross_entropy_with_logits(out, x["label"]),
    "gcn": lambda out, x: cross_entropy(out, x["labels"]),
    "linear_regression": lambda out, x: F.mse_loss(out, x["target"]),
    "lstm_seed": lambda out, x: F.binary_cross_entropy(out, x["label"]),
    "transformer_lm": lambda out, x: cross_entropy(out, x["targets"]),
}

FORWARD = {  # model: (forward, the inputs it reads)
    "bert": (bert, ("tokens", "segments")),
    "bert_finetune": (bert_finetune, ("tokens", "segments")),
    "binary_classifier": (binary_classifier, ("features",)),
    "cnn": (sequential_image, ("image",)),
    "gcn": (gcn, ("features", "edges")),
    "gru": (recurrent, ("image",)),
    "inception": (inception, ("image",)),
    "linear_regression": (linear_regression, ("features",)),
    "lstm": (recurrent, ("image",)),
    "lstm_seed": (lstm_seed, ("sequence",)),
    "mnist_mlp": (mnist_mlp, ("image",)),
    "resnet": (resnet, ("image",)),
    "rnn": (recurrent, ("image",)),
    "transformer_lm": (transformer_lm, ("tokens",)),
    "vgg": (sequential_image, ("image",)),
}


class Twin(nn.Module):
    """A param_counts.py twin with its model's forward pass and loss."""

    def __init__(self, name):
        super().__init__()
        self.name = name
        self.net, self.minus = param_counts.MODELS[name]()
        self.forward_fn, self.reads = FORWARD[name]
        if name == "lstm_seed":
            self.net[0].bias_hh_l0.requires_grad_(False)  # nnd has no such bias

    def forward(self, *inputs):  # positional, in self.reads's order: what ONNX exports
        return self.forward_fn(self.net, *inputs)

    def predict(self, x):
        return self(*(x[name] for name in self.reads))

    def loss(self, x):
        return LOSSES.get(self.name, classify)(self.predict(x), x)


# ---- synthetic inputs, the optimizer, timing ----

def synthetic(model, batch, gen):
    """nnd bench's kind of inputs: f32 uniform in [0, 1), i32 uniform in the model's range
    (int64 here, as torch's embeddings and losses take them; made once, before timing)."""
    out = {}
    for spec in model["inputs"]:
        shape = (batch, *spec["shape"])
        if spec["dtype"] == "f32":
            out[spec["name"]] = torch.rand(shape, generator=gen)
        else:
            low, high = model["ranges"][spec["name"]]
            out[spec["name"]] = torch.randint(low, high, shape, generator=gen)
    return out


def optimizer(model, params):
    kind, lr = model["optimizer"], model["lr"]
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=model.get("momentum", 0.0))
    raise ValueError(f"no PyTorch optimizer for {kind}()")


def train_step(twin, opt, batch, clip):
    params = [p for p in twin.parameters() if p.requires_grad]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = twin.loss(batch)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    return step


def bench_model(model, spec, gen):
    twin = Twin(model["name"])
    params = [p for p in twin.parameters() if p.requires_grad]
    opt = optimizer(model, params)
    twin.train()
    train = timed(train_step(twin, opt, synthetic(model, model["batch"], gen),
                             model.get("clip_norm", 0)), spec["steps"], spec["warmup"])
    twin.eval()
    one = synthetic(model, 1, gen)
    with torch.inference_mode():
        infer = timed(lambda: twin.predict(one), spec["steps"], spec["warmup"])
    return {"train": train, "infer_b1": infer,
            "params_torch": param_counts.torch_counts(twin.net, twin.minus)[0],
            "params_nnd": param_counts.nnd_counts(spec["nnd"], model["path"])[0]}


def export_onnx(model, folder):
    """The twin's eval-mode forward at batch 1 as folder/NAME.onnx, its inputs named as
    nnd's; returns the file and the inputs' shapes."""
    twin = Twin(model["name"]).eval()
    one = synthetic(model, 1, torch.Generator().manual_seed(0))
    path = os.path.join(folder, model["name"] + ".onnx")
    torch.onnx.export(twin, tuple(one[n] for n in twin.reads), path,
                      input_names=list(twin.reads), output_names=["prediction"])
    return {"name": model["name"], "onnx": path,
            "inputs": {n: list(one[n].shape) for n in twin.reads},
            "dtypes": {n: "float32" if one[n].is_floating_point() else "int64"
                       for n in twin.reads}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", help="the JSON spec bench/examples.py writes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--onnx-dir", help="export the --onnx-models twins here")
    ap.add_argument("--onnx-models", default="mnist_mlp,cnn")
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    torch.set_flush_denormal(True)  # nnd's generated code flushes subnormals too
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {},
           "errors": {}, "onnx": []}
    for model in spec["models"]:
        try:
            out["results"][model["name"]] = bench_model(model, spec, gen)
        except (Exception, SystemExit) as err:  # nnd_counts exits on a failed summary
            out["errors"][model["name"]] = f"{type(err).__name__}: {err}"[:300]
    if args.onnx_dir:
        wanted = args.onnx_models.split(",")
        for model in (m for m in spec["models"] if m["name"] in wanted):
            out["onnx"].append(export_onnx(model, args.onnx_dir))
    out["blas"] = blas_loaded()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
