"""JAX opponent for bench/rnn.py: the seed LSTM model, trained on one thread.

The same model and optimizer as bench/rnn_torch.py (LSTM(100, relu) over [10, 10]
-> Dense(50, relu) -> Dense(1, sigmoid), binary cross-entropy, Adam(lr=0.001),
batch 32), written with jax.lax.scan over the time steps; the whole update
(forward, gradient, Adam) is one jax.jit function. The logs of the loss take
probabilities clamped at the smallest normal float (PyTorch's BCELoss clamps the
logs at -100 instead; a clamp after the log would make NaN gradients at 0).
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false is set (unless XLA_FLAGS is), but
jax 0.10 still works on several threads (its tf_XLAEigen threads among them;
cpu_per_wall 1.26 on 2 cores), so rnn.py pins it, as the others, to one CPU.
The JSON's cpu_per_wall (process CPU time / wall time) shows what it used.

Reads DIR/seq.npy and DIR/label.npy; times each epoch (shuffle, batch gather,
the jitted step) after an untimed compile and warm-up, and prints one JSON line.
bench/rnn.py --jax installs jax into bench/.venv and runs this with it.

Run:  bench/.venv/bin/python bench/rnn_jax.py --data DIR --epochs 3
"""
import json
import os
import time

# XLA reads its flags when jax is imported
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from seed_args import seed_parser  # noqa: E402

WARMUP_STEPS = 20
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
TINY = float(np.finfo(np.float32).tiny)


def glorot(key, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit)


def init(key, features, units, hidden):
    k = jax.random.split(key, 4)
    return {"kernel": glorot(k[0], features, 4 * units),
            "recurrent_kernel": jax.nn.initializers.orthogonal()(k[1], (units, 4 * units)),
            "bias": jnp.zeros(4 * units),
            "hidden_w": glorot(k[2], units, hidden), "hidden_b": jnp.zeros(hidden),
            "out_w": glorot(k[3], hidden, 1), "out_b": jnp.zeros(1)}


def lstm_relu(p, x):
    """The last hidden state; gates i, f, g, o, relu for the candidate and the output."""
    batch, units = x.shape[0], p["recurrent_kernel"].shape[0]
    xw = jnp.einsum("btf,fg->tbg", x, p["kernel"]) + p["bias"]  # time-major for scan

    def cell(carry, xw_t):
        h, c = carry
        i, f, g, o = jnp.split(xw_t + h @ p["recurrent_kernel"], 4, axis=1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jax.nn.relu(g)
        h = jax.nn.sigmoid(o) * jax.nn.relu(c)
        return (h, c), None

    zeros = jnp.zeros((batch, units), x.dtype)
    (h, _), _ = jax.lax.scan(cell, (zeros, zeros), xw)
    return h


def loss_fn(p, x, y):
    hidden = jax.nn.relu(lstm_relu(p, x) @ p["hidden_w"] + p["hidden_b"])
    prob = jax.nn.sigmoid(hidden @ p["out_w"] + p["out_b"])
    # log(max(p, tiny)), not max(log p, -100), whose gradient at p = 0 is 0 * inf = NaN
    log_p = jnp.log(jnp.maximum(prob, TINY))
    log_q = jnp.log(jnp.maximum(1.0 - prob, TINY))
    return -jnp.mean(y * log_p + (1.0 - y) * log_q)


def make_step(lr):
    @jax.jit
    def step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, g)
        m_hat, v_hat = 1 / (1 - BETA1 ** t), 1 / (1 - BETA2 ** t)  # PyTorch's Adam
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * m * m_hat / (jnp.sqrt(v * v_hat) + EPS), p, m, v)
        return p, m, v, t, loss
    return step


def train(args):
    x = np.load(os.path.join(args.data, "seq.npy"))
    y = np.load(os.path.join(args.data, "label.npy"))
    p = init(jax.random.PRNGKey(args.seed), x.shape[2], args.units, args.hidden)
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    t = jnp.zeros((), jnp.float32)
    step = make_step(args.lr)
    steps = len(x) // args.batch  # whole batches only: a partial one would recompile
    for i in range(WARMUP_STEPS):  # the first call compiles
        idx = np.arange(i * args.batch, (i + 1) * args.batch) % len(x)
        p, m, v, t, loss = step(p, m, v, t, x[idx], y[idx])
    loss.block_until_ready()
    rng = np.random.default_rng(args.seed)
    seconds, cpu, losses = [], 0.0, []
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        perm = rng.permutation(len(x))
        losses = []
        for i in range(steps):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            p, m, v, t, loss = step(p, m, v, t, x[idx], y[idx])
            losses.append(loss)
        loss.block_until_ready()
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
    # cpu_per_wall near 1: one thread did the work
    return {"framework": "jax", "steps": steps, "epoch_seconds": seconds,
            "loss": float(np.mean([float(x) for x in losses])), "cpu_per_wall": cpu / sum(seconds),
            "version": jax.__version__, "xla_flags": os.environ["XLA_FLAGS"]}


def main():
    ap = seed_parser(__doc__.splitlines()[0])
    args = ap.parse_args()
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()
