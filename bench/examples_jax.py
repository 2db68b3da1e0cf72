"""JAX opponent for bench/examples.py: the training step and batch-1 inference under jax.jit.

For the examples whose JAX twin is a few lines (the others are skipped by bench/examples.py
with a reason): mnist_mlp, cnn (NHWC, as nnd), binary_classifier and linear_regression are
written here as functions over a dict of arrays; lstm_seed takes its model and loss from
bench/rnn_jax.py (LSTM(100, relu) -> Dense(50, relu) -> Dense(1, sigmoid)) and
transformer_lm from bench/transformer_jax.py (the char GPT, with the example's 102 tokens).
The whole update (forward, value_and_grad, the optimizer: Adam as PyTorch computes it, or
SGD) is one jax.jit function; inference is the jitted forward at batch 1 (not for
transformer_lm: bench/transformer_jax.py has only its loss). Inputs are synthetic, as the
spec of bench/examples.py says (f32 uniform in [0, 1), valid random integers); each call is
timed to block_until_ready after untimed compile and warm-up calls.
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false (unless XLA_FLAGS is set); bench/examples.py
also pins the process to one CPU.

Prints one JSON object (the last line).
Run:  bench/.venv/bin/python bench/examples_jax.py SPEC.json
"""
import json
import os
import sys
from types import SimpleNamespace

# XLA reads its flags when jax is imported
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rnn_jax  # noqa: E402
import transformer_jax  # noqa: E402
from timing import median_timing  # noqa: E402

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
CONV = ("NHWC", "HWIO", "NHWC")


def glorot(key, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def dense_params(key, fan_in, fan_out):
    return {"w": glorot(key, (fan_in, fan_out), fan_in, fan_out), "b": jnp.zeros(fan_out)}


def conv_params(key, size, c_in, filters):
    shape = (size, size, c_in, filters)
    return {"w": glorot(key, shape, size * size * c_in, size * size * filters),
            "b": jnp.zeros(filters)}


def dense(p, x):
    return x @ p["w"] + p["b"]


def conv_relu(p, x):
    y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "VALID", dimension_numbers=CONV)
    return jax.nn.relu(y + p["b"])


def max_pool2(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def cross_entropy(scores, labels):
    log_p = jax.nn.log_softmax(scores, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[..., None], axis=-1))


# ---- the models: (init(key), predict(p, x, key or None), loss(p, x, key)) ----

def mlp_init(key):
    k = jax.random.split(key)
    return {"hidden": dense_params(k[0], 784, 128), "out": dense_params(k[1], 128, 10)}


def mlp_predict(p, x, key=None):
    h = jax.nn.relu(dense(p["hidden"], x["image"].reshape(x["image"].shape[0], -1)))
    if key is not None:  # training: dropout(0.2), inverted
        h = jnp.where(jax.random.bernoulli(key, 0.8, h.shape), h / 0.8, 0.0)
    return dense(p["out"], h)


def cnn_init(key):
    k = jax.random.split(key, 4)
    return {"conv1": conv_params(k[0], 3, 1, 32), "conv2": conv_params(k[1], 3, 32, 64),
            "hidden": dense_params(k[2], 1600, 128), "out": dense_params(k[3], 128, 10)}


def cnn_predict(p, x, key=None):
    h = max_pool2(conv_relu(p["conv1"], x["image"][..., None]))
    h = max_pool2(conv_relu(p["conv2"], h))
    h = jax.nn.relu(dense(p["hidden"], h.reshape(h.shape[0], -1)))
    return dense(p["out"], h)


def classifier_loss(predict):
    return lambda p, x, key: cross_entropy(predict(p, x, key), x["label"])


def binary_init(key):
    k = jax.random.split(key)
    return {"hidden": dense_params(k[0], 30, 16), "out": dense_params(k[1], 16, 1)}


def binary_predict(p, x, key=None):
    return dense(p["out"], jax.nn.relu(dense(p["hidden"], x["features"])))


def binary_loss(p, x, key):
    logit, y = binary_predict(p, x), x["label"]  # binary_crossentropy(from_logits=true)
    return jnp.mean(jnp.maximum(logit, 0) - logit * y + jnp.log1p(jnp.exp(-jnp.abs(logit))))


def linear_init(key):
    return {"out": dense_params(key, 10, 1)}


def linear_predict(p, x, key=None):
    return dense(p["out"], x["features"])


def linear_loss(p, x, key):
    return jnp.mean((linear_predict(p, x) - x["target"]) ** 2)


def seed_predict(p, x, key=None):  # bench/rnn_jax.py's model, its prediction
    h = jax.nn.relu(rnn_jax.lstm_relu(p, x["sequence"]) @ p["hidden_w"] + p["hidden_b"])
    return jax.nn.sigmoid(h @ p["out_w"] + p["out_b"])


GPT = SimpleNamespace(vocab=102, dim=128, heads=4, layers=2, steps=64)  # transformer_lm


def gpt_loss(p, x, key):
    position = transformer_jax.sinusoidal_encoding(GPT.steps, GPT.dim)
    return transformer_jax.loss_fn(p, x["tokens"], x["targets"], position, GPT.heads)


MODELS = {
    "mnist_mlp": (mlp_init, mlp_predict, classifier_loss(mlp_predict)),
    "cnn": (cnn_init, cnn_predict, classifier_loss(cnn_predict)),
    "binary_classifier": (binary_init, binary_predict, binary_loss),
    "linear_regression": (linear_init, linear_predict, linear_loss),
    "lstm_seed": (lambda key: rnn_jax.init(key, 10, 100, 50), seed_predict,
                  lambda p, x, key: rnn_jax.loss_fn(p, x["sequence"], x["label"])),
    "transformer_lm": (lambda key: transformer_jax.init(key, GPT), None, gpt_loss),
}


# ---- the optimizer step, inputs, timing ----

def make_step(loss, kind, lr):
    """One jitted update: (params, state, x) -> (params, state, loss); state is (t, m, v)
    (t counts the steps: Adam's bias correction, and the dropout key)."""
    def update(p, g, m, v, t):
        if kind == "sgd":
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, p, g), m, v
        m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, g)
        m_hat, v_hat = 1 / (1 - BETA1 ** t), 1 / (1 - BETA2 ** t)
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * m * m_hat / (jnp.sqrt(v * v_hat) + EPS), p, m, v)
        return p, m, v

    @jax.jit
    def step(p, state, x):
        t, m, v = state
        t = t + 1
        value, g = jax.value_and_grad(loss)(p, x, jax.random.fold_in(jax.random.PRNGKey(0), t))
        p, m, v = update(p, g, m, v, t)
        return p, (t, m, v), value
    return step


def synthetic(model, batch, rng):
    out = {}
    for spec in model["inputs"]:
        shape = (batch, *spec["shape"])
        if spec["dtype"] == "f32":
            out[spec["name"]] = jnp.asarray(rng.random(shape, np.float32))
        else:
            low, high = model["ranges"][spec["name"]]
            out[spec["name"]] = jnp.asarray(rng.integers(low, high, shape, np.int32))
    return out


def timed(call, steps, warmup):
    """call() -> an array to wait for; untimed warm-up (the first call compiles), then each
    call timed to block_until_ready"""
    return median_timing(lambda: call().block_until_ready(), steps, max(warmup, 1))


def bench_model(model, spec, rng):
    init, predict, loss = MODELS[model["name"]]
    p = init(jax.random.PRNGKey(1))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, p)
    holder = {"p": p, "state": (jnp.zeros((), jnp.float32), zeros, zeros)}
    step = make_step(loss, model["optimizer"], model["lr"])
    x = synthetic(model, model["batch"], rng)

    def train():
        holder["p"], holder["state"], value = step(holder["p"], holder["state"], x)
        return value
    out = {"train": timed(train, spec["steps"], spec["warmup"]),
           "params": int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(p)))}
    if predict is not None:
        forward, one = jax.jit(predict), synthetic(model, 1, rng)
        out["infer_b1"] = timed(lambda: forward(holder["p"], one), spec["steps"],
                                spec["warmup"])
    return out


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    rng = np.random.default_rng(1)
    out = {"jax": jax.__version__, "xla_flags": os.environ["XLA_FLAGS"], "results": {},
           "errors": {}}
    for model in spec["models"]:
        if model["name"] not in MODELS:
            continue
        try:
            out["results"][model["name"]] = bench_model(model, spec, rng)
        except Exception as err:  # report it and go on with the other models
            out["errors"][model["name"]] = f"{type(err).__name__}: {err}"[:300]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
