"""JAX opponent for bench/transformer.py: the char GPT's training step on one thread.

The same model, loss and optimizer as bench/transformer_torch.py (token embedding plus the
sinusoidal table, 2 pre-norm decoder blocks with causal 4-head attention and an exact-GELU
feed-forward, a final layer norm and the output head; mean next-token cross-entropy;
Adam(lr=0.001), batch 32), as plain functions over a dict of arrays; the whole update
(forward, value_and_grad, Adam by hand as PyTorch computes it) is one jax.jit function.
Kernels start Glorot-uniform (as nnd's), the embedding table N(0, 1) (as PyTorch's).
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false is set (unless XLA_FLAGS is); bench/
transformer.py also pins the process to one CPU, as it does the other frameworks.

Reads DIR/tokens.npy and DIR/targets.npy (int32 [N, 64]); times each epoch (shuffle, batch
gather, the jitted step) after an untimed compile and warm-up, and prints one JSON line.
bench/transformer.py --jax installs jax into bench/.venv and runs this with it.

Run:  bench/.venv/bin/python bench/transformer_jax.py --data DIR --epochs 3
"""
import argparse
import json
import os
import time

# XLA reads its flags when jax is imported
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

WARMUP_STEPS = 5
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
LN_EPS = 1e-5


def sinusoidal_encoding(steps, dim):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same), [steps, dim]."""
    pos = np.arange(steps, dtype=np.float64)[:, None]
    angle = pos / np.power(10000.0, np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((steps, dim))
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle)
    return jnp.asarray(table, jnp.float32)


def dense_init(key, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return {"w": jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit),
            "b": jnp.zeros(fan_out)}


def norm_init(dim):
    return {"gamma": jnp.ones(dim), "beta": jnp.zeros(dim)}


def block_init(key, dim):
    k = jax.random.split(key, 6)
    names = ("query", "key", "value", "out")
    block = {name: dense_init(k[i], dim, dim) for i, name in enumerate(names)}
    block.update(norm1=norm_init(dim), norm2=norm_init(dim),
                 up=dense_init(k[4], dim, 4 * dim), down=dense_init(k[5], 4 * dim, dim))
    return block


def init(key, args):
    k = jax.random.split(key, args.layers + 2)
    return {"table": jax.random.normal(k[0], (args.vocab, args.dim), jnp.float32),
            "blocks": [block_init(k[1 + i], args.dim) for i in range(args.layers)],
            "norm": norm_init(args.dim), "head": dense_init(k[-1], args.dim, args.vocab)}


def dense(p, x):
    return x @ p["w"] + p["b"]


def layer_norm(p, x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + LN_EPS) * p["gamma"] + p["beta"]


def attention(p, x, heads):
    """Causal multi-head self-attention over [B, T, d]."""
    batch, steps, dim = x.shape

    def split(y):  # [B, T, d] -> [B, H, T, d / H]
        return y.reshape(batch, steps, heads, dim // heads).transpose(0, 2, 1, 3)

    q, k, v = (split(dense(p[name], x)) for name in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim // heads)
    seen = jnp.tril(jnp.ones((steps, steps), bool))
    weights = jax.nn.softmax(jnp.where(seen, scores, -jnp.inf), axis=-1)
    merged = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, steps, dim)
    return dense(p["out"], merged)


def loss_fn(p, tokens, targets, position, heads):
    x = p["table"][tokens] + position
    for block in p["blocks"]:
        x = x + attention(block, layer_norm(block["norm1"], x), heads)
        up = jax.nn.gelu(dense(block["up"], layer_norm(block["norm2"], x)), approximate=False)
        x = x + dense(block["down"], up)
    logits = dense(p["head"], layer_norm(p["norm"], x))
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, targets[..., None], axis=-1))


def make_step(lr, position, heads):
    @jax.jit
    def step(p, m, v, t, tokens, targets):
        loss, g = jax.value_and_grad(loss_fn)(p, tokens, targets, position, heads)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, g)
        m_hat, v_hat = 1 / (1 - BETA1 ** t), 1 / (1 - BETA2 ** t)  # PyTorch's Adam
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * m * m_hat / (jnp.sqrt(v * v_hat) + EPS), p, m, v)
        return p, m, v, t, loss
    return step


def run_epochs(step, state, tokens, targets, args):
    """The timed epochs: (seconds per epoch, CPU seconds, mean loss of the last epoch)."""
    rng = np.random.default_rng(args.seed)
    steps = len(tokens) // args.batch  # whole batches only: a partial one would recompile
    seconds, cpu, losses = [], 0.0, []
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        perm = rng.permutation(len(tokens))
        losses = []
        for i in range(steps):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            *state, loss = step(*state, tokens[idx], targets[idx])
            losses.append(loss)
        loss.block_until_ready()
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
    return seconds, cpu, float(np.mean([float(x) for x in losses]))


def train(args):
    tokens = np.load(os.path.join(args.data, "tokens.npy"))
    targets = np.load(os.path.join(args.data, "targets.npy"))
    p = init(jax.random.PRNGKey(args.seed), args)
    state = [p, jax.tree_util.tree_map(jnp.zeros_like, p),
             jax.tree_util.tree_map(jnp.zeros_like, p), jnp.zeros((), jnp.float32)]
    step = make_step(args.lr, sinusoidal_encoding(tokens.shape[1], args.dim), args.heads)
    for i in range(WARMUP_STEPS):  # the first call compiles
        idx = np.arange(i * args.batch, (i + 1) * args.batch) % len(tokens)
        *state, loss = step(*state, tokens[idx], targets[idx])
    loss.block_until_ready()
    seconds, cpu, loss = run_epochs(step, state, tokens, targets, args)
    # cpu_per_wall near 1: one thread did the work
    return {"framework": "jax", "steps": len(tokens) // args.batch, "epoch_seconds": seconds,
            "loss": loss, "cpu_per_wall": cpu / sum(seconds), "version": jax.__version__,
            "params": sum(leaf.size for leaf in jax.tree_util.tree_leaves(p)),
            "xla_flags": os.environ["XLA_FLAGS"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with tokens.npy and targets.npy")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=101)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    print(json.dumps(train(ap.parse_args())))


if __name__ == "__main__":
    main()
