"""Parameter counts of every example model against PyTorch.

usage: param_counts.py NND EXAMPLES_DIR

For each examples/X.nnd, `nnd summary` reports `trainable params:`,
`frozen params:` and `non-trainable state:` (batch norms' running
statistics). Each function below builds the same architecture from standard
torch.nn modules, written from the .nnd file and docs/language.md (never from
nnd's counts), and the script checks

    trainable + frozen  == sum(p.numel() for p in model.parameters())
    non-trainable state == numel of the running_mean/running_var buffers
                           (not num_batches_tracked, which nnd does not keep)

A parameter shared between modules (BERT's tied token table) is one
Parameter object, counted once by model.parameters(), as nnd counts it once.

Where a standard torch module holds parameters nnd's layer does not, the
difference is an explicit, documented adjustment (`minus`) per example:
  - simple_rnn / lstm: nnd keeps one bias [G*units] (the input projection's);
    torch's nn.RNN / nn.LSTM hold bias_ih_l0 and bias_hh_l0, whose sum is that
    one bias, so bias_hh_l0 is subtracted.
  - gru: nnd keeps bias [3*units] and recurrent_bias [units], the candidate's
    (n) recurrent bias, which sits inside r * (W_hn h + b_hn); torch's nn.GRU
    holds bias_ih_l0 [3*units] and bias_hh_l0 [3*units], whose r and z parts
    (the first 2*units) only add to bias_ih_l0's, so those are subtracted.
Nothing else is adjusted.
"""
import glob
import os
import re
import subprocess
import sys

import torch
from torch import nn


def dense_stack(*widths):
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(widths, widths[1:])])


# ---- dense models ---------------------------------------------------------

def linear_regression():
    return nn.Linear(10, 1), 0  # dense(features[10], 1)


def binary_classifier():
    return dense_stack(30, 16, 1), 0  # dense 16 relu, dense 1


def mnist_mlp():
    return dense_stack(28 * 28, 128, 10), 0  # flatten, dense 128, dropout, dense 10


# ---- convolutional models (nnd is channels last; counts do not care) -------

def cnn():
    # 28 -conv3-> 26 -pool2-> 13 -conv3-> 11 -pool2-> 5; flatten 5*5*64
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 5 * 64, 128), nn.ReLU(), nn.Linear(128, 10)), 0


def vgg():
    def block(c_in, filters):  # two same-padded 3x3 convs, max_pool2d 2
        return [nn.Conv2d(c_in, filters, 3, padding=1), nn.ReLU(),
                nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    # 28 -> 14 -> 7: flatten 7*7*64
    return nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(),
                         nn.Linear(7 * 7 * 64, 256), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(256, 10)), 0


class Inception(nn.Module):
    """the inception block: 1x1; 1x1 then 3x3; 1x1 then 5x5; pool then 1x1;
    outputs concatenated (f1 + f3 + f5 + fp channels)"""

    def __init__(self, c_in, f1, r3, f3, r5, f5, fp):
        super().__init__()
        self.a = nn.Conv2d(c_in, f1, 1)
        self.b = nn.Sequential(nn.Conv2d(c_in, r3, 1), nn.ReLU(), nn.Conv2d(r3, f3, 3, padding=1))
        self.c = nn.Sequential(nn.Conv2d(c_in, r5, 1), nn.ReLU(), nn.Conv2d(r5, f5, 5, padding=2))
        self.d = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(c_in, fp, 1))
        self.channels = f1 + f3 + f5 + fp


def inception():
    i1 = Inception(32, 16, 16, 32, 8, 16, 16)
    i2 = Inception(i1.channels, 32, 32, 48, 8, 24, 24)
    c = i2.channels
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2), i1, nn.MaxPool2d(2), i2,
        # separable_conv2d(x, 128, 3): depthwise (no bias), then a 1x1 with bias
        nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, 128, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)), 0


def resnet():
    def conv_bn(c_in, filters, stride):  # 3x3 conv without bias, batch norm
        return nn.Sequential(nn.Conv2d(c_in, filters, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(filters))

    def identity(filters):
        return nn.ModuleList([conv_bn(filters, filters, 1), conv_bn(filters, filters, 1)])

    def projection(c_in, filters):
        shortcut = nn.Sequential(nn.Conv2d(c_in, filters, 1, stride=2, bias=False),
                                 nn.BatchNorm2d(filters))
        return nn.ModuleList([conv_bn(c_in, filters, 2), shortcut, conv_bn(filters, filters, 1)])

    return nn.ModuleList([conv_bn(1, 16, 1), identity(16), projection(16, 32), identity(32),
                          projection(32, 64), nn.Linear(64, 10)]), 0


# ---- recurrent models -------------------------------------------------------

def rnn():
    r = nn.RNN(28, 64, batch_first=True)
    # nnd's simple_rnn keeps one bias [units]; torch's bias_ih + bias_hh is it
    minus = r.bias_hh_l0.numel()
    return nn.ModuleList([r, nn.Linear(64, 10)]), minus


def lstm():
    r = nn.LSTM(28, 64, batch_first=True)
    # nnd's lstm keeps one bias [4*units]; torch's bias_ih + bias_hh is it
    minus = r.bias_hh_l0.numel()
    return nn.ModuleList([r, nn.Linear(64, 10)]), minus


def lstm_seed():
    r = nn.LSTM(10, 100, batch_first=True)  # activation=relu: no parameters
    # nnd's lstm keeps one bias [4*units]; torch's bias_ih + bias_hh is it
    minus = r.bias_hh_l0.numel()
    return nn.ModuleList([r, nn.Linear(100, 50), nn.Linear(50, 1)]), minus


def gru():
    r = nn.GRU(28, 64, batch_first=True)
    # nnd's gru keeps bias [3*units] and the candidate's recurrent bias
    # [units] (torch's bias_hh_l0[2*units:]); torch's bias_hh_l0 for the r
    # and z gates (the first 2*units) only adds to bias_ih_l0's
    minus = 2 * r.hidden_size
    return nn.ModuleList([r, nn.Linear(64, 10)]), minus


# ---- graph model ------------------------------------------------------------

def gcn():
    # gcn(x, edges, units): D^-1/2 (A+I) D^-1/2 x W + b, a [F, units] kernel
    # and a bias, as PyG's GCNConv (whose lin has no bias, plus a bias)
    return nn.ModuleList([nn.Linear(34, 16), nn.Linear(16, 2)]), 0


# ---- transformer models -----------------------------------------------------

class PreNormBlock(nn.Module):
    """layer_norm, self-attention (q/k/v/o dense layers with biases: what
    nn.MultiheadAttention holds in in_proj and out_proj), residual;
    layer_norm, dense 4d gelu, dense d, residual"""

    def __init__(self, d, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attention = nn.MultiheadAttention(d, heads, bias=True, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)


class BertBody(nn.Module):
    def __init__(self, vocab=102, d=64, length=128, heads=4, blocks=2):
        super().__init__()
        self.token = nn.Embedding(vocab, d)
        self.segment = nn.Embedding(2, d)
        self.position = nn.Embedding(length, d)  # position_embedding: [T, d]
        self.embedding_norm = nn.LayerNorm(d)
        self.encoders = nn.ModuleList([PreNormBlock(d, heads) for _ in range(blocks)])
        self.final_norm = nn.LayerNorm(d)
        self.pooler = nn.Linear(d, d)


def bert():
    m = BertBody()
    m.mlm_transform = nn.Linear(64, 64)
    m.mlm_norm = nn.LayerNorm(64)
    # mlm scores: mlm_hidden @ token.table^T, the tied table, no bias
    m.mlm_decoder = nn.Linear(64, 102, bias=False)
    m.mlm_decoder.weight = m.token.weight  # one Parameter: counted once
    m.nsp_head = nn.Linear(64, 2)
    return m, 0


def bert_finetune():
    m = BertBody()
    m.classifier = nn.Linear(64, 4)
    return m, 0


def transformer_lm():
    # embedding 102x128 + sinusoidal_encoding (no parameters), 2 decoder
    # blocks (causal: a mask, no parameters), layer_norm, dense 102
    return nn.ModuleList([nn.Embedding(102, 128), *[PreNormBlock(128, 4) for _ in range(2)],
                          nn.LayerNorm(128), nn.Linear(128, 102)]), 0


MODELS = {f.__name__: f for f in [
    bert, bert_finetune, binary_classifier, cnn, gcn, gru, inception,
    linear_regression, lstm, lstm_seed, mnist_mlp, resnet, rnn, transformer_lm, vgg]}


def nnd_counts(nnd, path):
    out = subprocess.run([nnd, "summary", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{path}: nnd summary failed:\n{out.stderr}")

    def field(label):
        m = re.search(rf"^{label}:\s+(\d+)", out.stdout, re.M)
        if not m:
            raise SystemExit(f"{path}: no '{label}:' line in nnd summary")
        return int(m.group(1))
    return field("trainable params") + field("frozen params"), field("non-trainable state")


def torch_counts(model, minus):
    params = sum(p.numel() for p in model.parameters()) - minus
    stats = sum(b.numel() for name, b in model.named_buffers()
                if name.rsplit(".", 1)[-1] in ("running_mean", "running_var"))
    return params, stats


def main():
    nnd, examples = sys.argv[1], sys.argv[2]
    found = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(examples, "*.nnd")))
    missing = [n for n in found if n not in MODELS]
    torch.manual_seed(0)
    failed = []
    for name in found:
        if name in missing:
            print(f"{name}: no torch model: FAIL")
            failed.append(name)
            continue
        params, stats = nnd_counts(nnd, os.path.join(examples, name + ".nnd"))
        tparams, tstats = torch_counts(*MODELS[name]())
        same = (params, stats) == (tparams, tstats)
        print(f"{name}: nnd {params} params {stats} statistics, torch {tparams} {tstats}: "
              + ("same" if same else "FAIL"))
        if not same:
            failed.append(name)
    for name in sorted(set(MODELS) - set(found)):
        print(f"{name}: no examples/{name}.nnd: FAIL")
        failed.append(name)
    if failed:
        print(f"param counts: {len(found)} examples, FAIL: {', '.join(failed)}")
        sys.exit(1)
    print(f"param counts: {len(found)} examples, all same")


if __name__ == "__main__":
    main()
