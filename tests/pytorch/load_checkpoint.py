"""An nnd checkpoint read into torch.nn with the standard library and numpy
(tests/pytorch/checkpoint-interop.test; the loader is the code that
docs/checkpoints.md shows, and the test checks that the two are the same).

Trains two small models on part of Fashion-MNIST with nnd (an MLP over
normalize()d images, and a CNN: conv2d, batch_norm, max_pool2d, a second
conv2d over 6 channels, max_pool2d, flatten, dense), reads each checkpoint
with read_checkpoint below, loads it into the equivalent torch.nn model
(NCHW images, torch's own flatten) and compares on the test images: the
logits with nnd's (from `nnd predict` of a twin model whose loss is a
regression on the logits, so that the prediction is the logits themselves),
the predicted classes with `nnd predict`'s, the accuracy and the loss with
`nnd eval`'s. Also checks the checkpoint's names and training state against
what docs/checkpoints.md says.

Then reads the same checkpoints in wrong layouts (MUTATIONS: the conv
kernel's rows in torch's channel-first order, or rows and columns swapped;
the dense kernel after flatten taken as channel-first; normalize() with the
sample deviation), each of which the comparison must reject.

usage: load_checkpoint.py NND WORK_DIR DOC
"""
import argparse
import gzip
import os
import re
import subprocess
import sys

# ---- begin loader (docs/checkpoints.md shows this part verbatim) ----
import json
import struct

import numpy as np


def read_checkpoint(path):
    """The tensors of an nnd checkpoint (float32 numpy arrays, by name) and
    its __metadata__ (a dict of strings)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])  # the JSON header's length
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", (name, t["dtype"])  # nnd writes only F32
        start, end = t["data_offsets"]  # from the end of the header
        data = blob[8 + n + start:8 + n + end]
        tensors[name] = np.frombuffer(data, dtype="<f4").reshape(t["shape"]).copy()
    return tensors, meta


def linear_weight(kernel):
    """dense: nnd's kernel [in, out] -> torch.nn.Linear's weight [out, in]."""
    return kernel.T


def conv_weight(kernel, size, channels):
    """conv2d: nnd's kernel [size*size*channels, filters] (channels: the
    input channels, or channels/groups with groups=), its rows in (kernel row,
    kernel column, input channel) order, the channel fastest -> the weight
    [filters, channels, size, size] of torch.nn.Conv2d."""
    return kernel.reshape(size, size, channels, -1).transpose(3, 2, 0, 1)


def flattened_linear_weight(kernel, height, width, channels):
    """dense after flatten() of [height, width, channels] images: nnd's
    inputs are in (row, column, channel) order, torch.flatten of NCHW in
    (channel, row, column) order: the kernel's rows reordered, transposed."""
    k = kernel.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
    return k.reshape(channels * height * width, -1).T


def normalize_statistics(train):
    """normalize(): what nnd standardises each feature (each value of an
    example) with, as the checkpoint's normalize.INPUT.mean and .inv_std
    hold them, from the training data. train is [N, features], the
    training data as float32 after the source's scale; the mean and the
    population deviation (ddof=0), in float64; a feature of variance 0 is
    divided by 1. nnd computes (x - mean) * inv_std in float32."""
    x = train.astype(np.float64)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    inv_std = np.where(var > 0, 1 / np.sqrt(np.where(var > 0, var, 1)), 1)
    return mean.astype(np.float32), inv_std.astype(np.float32)
# ---- end loader ----


import torch  # noqa: E402

TRAIN, TEST, EPOCHS, BATCH = 1000, 500, 2, 32
TOLERANCE = 1e-4

HEAD = {  # the classifier, and its twin that predicts its logits
    "class": ("input label: i32",
              "loss sparse_categorical_crossentropy(logits, label)\n  metric accuracy(logits, label)",
              "label = idx(\"{d}/{s}-labels.gz\")"),
    "logits": ("input target: f32[10]",
               "loss mean_squared_error(logits, target)\n  metric mse(logits, target)",
               "target = npy(\"{d}/{s}-zeros.npy\")"),
}

MODELS = {
    "mlp": ("""
  x = flatten(image)
  x = dense(x, 32, activation=relu)
  logits = dense(x, 10)""", "normalize(idx(\"{d}/{s}-images.gz\")) / 255"),
    "cnn": ("""
  x = reshape(image, [28, 28, 1])
  x = relu(batch_norm(conv2d(x, 6, 3)))
  x = max_pool2d(x, 2)
  x = conv2d(x, 8, 3, activation=relu)
  x = max_pool2d(x, 2)
  logits = dense(flatten(x), 10)""", "idx(\"{d}/{s}-images.gz\") / 255"),
}


def model_text(name, head, work):
    body, image = MODELS[name]
    decl, loss, source = HEAD[head]
    data = "".join(f"\ndata {split} {{\n  image = {image.format(d=work, s=split)}\n  "
                   f"{source.format(d=work, s=split)}\n}}\n" for split in ("train", "test"))
    return (f"model {name} {{\n  input image: f32[28, 28]\n  {decl}\n{body}\n  {loss}\n}}\n"
            f"train {{\n  optimizer = adam(lr=0.002)\n  batch = {BATCH}\n  epochs = {EPOCHS}\n  seed = 7\n}}\n"
            + data)


def idx_read(path):
    blob = gzip.open(path).read()
    dims = struct.unpack(">%dI" % blob[3], blob[4:4 + 4 * blob[3]])
    return dims, blob[4 + 4 * blob[3]:]


def write_data(work):
    """the first TRAIN and TEST examples of Fashion-MNIST, as gzip'd IDX; zero targets for the twin"""
    fashion = os.environ.get("FASHION", "/usr/share/datasets/fashion-mnist")
    pixels = {}
    for split, src, n in (("train", "train", TRAIN), ("test", "t10k", TEST)):
        for what, per in (("images", 784), ("labels", 1)):
            dims, data = idx_read(os.path.join(fashion, f"{src}-{what}-idx{3 if per > 1 else 1}-ubyte.gz"))
            dims = (n,) + tuple(dims[1:])
            data = data[:n * per]
            with gzip.open(os.path.join(work, f"{split}-{what}.gz"), "wb") as f:
                f.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data)
            pixels[split, what] = np.frombuffer(data, dtype=np.uint8).reshape(dims)
        np.save(os.path.join(work, f"{split}-zeros.npy"), np.zeros((n, 10), dtype=np.float32))
    return pixels


def nnd(*args):
    run = subprocess.run(list(args), capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"load_checkpoint.py: {' '.join(args)} failed:\n{run.stderr}")
    return run.stdout


def torch_model(name, w, mutation=None):
    """the torch.nn twin of MODELS[name], its weights from the checkpoint w
    (with `mutation`, one of MUTATIONS, read in a wrong layout)"""
    def put(param, value):
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    if name == "mlp":
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU(),
                                    torch.nn.Linear(32, 10))
        put(model[1].weight, linear_weight(w["dense_1.kernel"]))
        put(model[1].bias, w["dense_1.bias"])
        put(model[3].weight, linear_weight(w["dense_2.kernel"]))
        put(model[3].bias, w["dense_2.bias"])
        return model
    conv1, bn, conv2 = torch.nn.Conv2d(1, 6, 3), torch.nn.BatchNorm2d(6), torch.nn.Conv2d(6, 8, 3)
    dense = torch.nn.Linear(5 * 5 * 8, 10)
    model = torch.nn.Sequential(conv1, bn, torch.nn.ReLU(), torch.nn.MaxPool2d(2), conv2, torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Flatten(), dense)
    put(conv1.weight, conv_weight(w["conv2d_1.kernel"], 3, 1))
    put(conv1.bias, w["conv2d_1.bias"])
    put(bn.weight, w["batch_norm_1.gamma"])
    put(bn.bias, w["batch_norm_1.beta"])
    put(bn.running_mean, w["batch_norm_1.running_mean"])
    put(bn.running_var, w["batch_norm_1.running_var"])
    kernel = conv_weight(w["conv2d_2.kernel"], 3, 6)
    if mutation == "channels first":
        kernel = w["conv2d_2.kernel"].reshape(6, 3, 3, 8).transpose(3, 0, 1, 2)
    if mutation == "rows and columns swapped":
        kernel = kernel.transpose(0, 1, 3, 2)
    put(conv2.weight, kernel)
    put(conv2.bias, w["conv2d_2.bias"])
    if mutation == "flattened channels first":
        put(dense.weight, linear_weight(w["dense_1.kernel"]))
    else:
        put(dense.weight, flattened_linear_weight(w["dense_1.kernel"], 5, 5, 8))
    put(dense.bias, w["dense_1.bias"])
    return model


# the wrong readings each model's comparison must catch
MUTATIONS = {
    "mlp": ["normalize with ddof=1"],
    "cnn": ["channels first", "rows and columns swapped", "flattened channels first"],
}


def check_names(name, w, meta, pixels):
    """the names, shapes and training state docs/checkpoints.md describes, and
    the MLP's saved normalize() statistics: those of its training images"""
    steps = EPOCHS * -(-TRAIN // BATCH)
    weights = {"mlp": ["dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias"],
               "cnn": ["conv2d_1.kernel", "conv2d_1.bias", "batch_norm_1.gamma", "batch_norm_1.beta",
                       "conv2d_2.kernel", "conv2d_2.bias", "dense_1.kernel", "dense_1.bias"]}[name]
    statistics = ["batch_norm_1.running_mean", "batch_norm_1.running_var"] if name == "cnn" else []
    normalized = ["normalize.image.mean", "normalize.image.inv_std"] if name == "mlp" else []
    want = set(weights + statistics + normalized + ["step"]) | {f"{n}.adam_{m}" for n in weights for m in "mv"}
    problems = [f"names: {sorted(set(w) ^ want)}"] if set(w) != want else []
    if normalized and not problems:
        train = (pixels["train", "images"].astype(np.float64) * (1 / 255)).astype(np.float32)
        mean, inv_std = normalize_statistics(train.reshape(TRAIN, -1))
        if not (np.array_equal(w[normalized[0]], mean) and np.array_equal(w[normalized[1]], inv_std)):
            problems.append("saved normalize statistics")
    problems += [f"{n}.adam_m shape" for n in weights if w[f"{n}.adam_m"].shape != w[n].shape]
    if name == "cnn" and (w["conv2d_2.kernel"].shape != (3 * 3 * 6, 8) or w["dense_1.kernel"].shape != (200, 10)):
        problems.append("kernel shapes")
    if set(meta) != {"format", "epoch", "step", "rng"} or meta["format"] != "nnd-checkpoint-1":
        problems.append(f"metadata {meta}")
    elif meta["epoch"] != str(EPOCHS) or meta["step"] != str(steps) or w["step"].shape != () \
            or float(w["step"]) != steps or not re.fullmatch("[0-9a-f]{64}", meta["rng"]):
        problems.append(f"training state {meta} step={w['step']}")
    print(f"{name}: {len(w)} tensors, epoch {meta.get('epoch')}, step {meta.get('step')} = "
          f"tensor step {float(w['step']):g}: {'FAIL ' + '; '.join(problems) if problems else 'as documented'}")
    return not problems


def run_nnd(name, args):
    """train the classifier; nnd eval's loss and accuracy, nnd predict's
    classes, and the twin's predictions: the logits"""
    files = {h: os.path.join(args.work, f"{name}-{h}.nnd") for h in HEAD}
    for h, path in files.items():
        open(path, "w").write(model_text(name, h, args.work))
    ckpt = os.path.join(args.work, f"{name}.st")
    nnd(args.nnd, "train", files["class"], "--save", ckpt, "--quiet")
    scores = nnd(args.nnd, "eval", files["class"], "--weights", ckpt)
    loss = float(re.search(r"^loss: (\S+)", scores, re.M).group(1))
    accuracy = re.search(r"^accuracy: (\S+)", scores, re.M).group(1)
    table = nnd(args.nnd, "predict", files["class"], "--weights", ckpt, "--output", "-").splitlines()
    assert table[0] == "class_0,label_0", table[0]
    classes = np.loadtxt(table[1:], delimiter=",", dtype=np.int64)[:, 0]
    table = nnd(args.nnd, "predict", files["logits"], "--weights", ckpt, "--output", "-").splitlines()
    assert table[0].startswith("prediction_0,"), table[0]
    logits = np.loadtxt(table[1:], delimiter=",", dtype=np.float64)[:, :10]
    return ckpt, loss, accuracy, classes, logits


def torch_logits(name, w, pixels, mutation=None):
    """the torch model's logits on the test images, transformed as nnd's data block says"""
    scale = lambda u8: (u8.astype(np.float64) * (1 / 255)).astype(np.float32)  # nnd's `/ 255`
    test = scale(pixels["test", "images"]).reshape(TEST, -1)
    if name == "mlp":  # normalize(): the training data's statistics, as nnd recomputes them
        train = scale(pixels["train", "images"]).reshape(TRAIN, -1)
        mean, inv_std = normalize_statistics(train)
        if mutation == "normalize with ddof=1":
            sd = train.astype(np.float64).std(axis=0, ddof=1)
            inv_std = np.where(sd > 0, 1 / np.where(sd > 0, sd, 1), 1).astype(np.float32)
        test = (test - mean) * inv_std
    x = torch.from_numpy(test).reshape(TEST, 1, 28, 28)  # NCHW; the MLP flattens it
    with torch.no_grad():
        return torch_model(name, w, mutation).eval()(x)


def compare(name, args, pixels):
    ckpt, nnd_loss, nnd_accuracy, classes, nnd_logits = run_nnd(name, args)
    w, meta = read_checkpoint(ckpt)
    ok = check_names(name, w, meta, pixels)
    labels = torch.from_numpy(pixels["test", "labels"].astype(np.int64))
    for mutation in [None] + MUTATIONS[name]:
        logits = torch_logits(name, w, pixels, mutation)
        loss = torch.nn.functional.cross_entropy(logits, labels).item()
        logits = logits.numpy().astype(np.float64)
        err = np.max(np.abs(logits - nnd_logits)) / max(1.0, np.max(np.abs(nnd_logits)))
        predicted = logits.argmax(axis=1)
        same = int((predicted == classes).sum())
        accuracy = f"{(predicted == labels.numpy()).mean():.4f}"
        agree = err <= TOLERANCE and same == TEST and accuracy == nnd_accuracy and abs(loss - nnd_loss) <= TOLERANCE
        if mutation:  # a wrong reading must not agree
            print(f"  {name} read with {mutation}: logits rel.err {err:.1e}, {same}/{TEST} classes: "
                  f"{'NOT CAUGHT' if agree else 'caught'}")
            ok &= not agree
            continue
        print(f"{name}: logits rel.err {err:.1e} (tolerance {TOLERANCE:.0e}), {same}/{TEST} classes as nnd "
              f"predict's, accuracy {accuracy} (nnd eval {nnd_accuracy}), loss {loss:.4f} (nnd eval "
              f"{nnd_loss:.4f}): {'ok' if agree else 'FAIL'}")
        ok &= agree
    return ok


def doc_shows_loader(doc):
    """the doc's code block is this file's loader, verbatim"""
    me = open(os.path.abspath(__file__)).read()
    loader = me[me.index("# ---- begin loader"):me.index("# ---- end loader ----")]
    loader = loader[loader.index("\n") + 1:].strip("\n")
    ok = loader in open(doc).read()
    print(f"{os.path.basename(doc)} shows the loader of {os.path.basename(__file__)}: {'ok' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nnd")
    ap.add_argument("work")
    ap.add_argument("doc")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    pixels = write_data(args.work)
    ok = doc_shows_loader(args.doc)
    for name in MODELS:
        ok &= compare(name, args, pixels)
    print(f"checkpoint interop: {'ok' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


main()
