#!/usr/bin/env bash
# Side-by-side benchmark of nnd against PyTorch on Fashion-MNIST, the MLP
# (examples/mnist_mlp.nnd vs bench/mnist_mlp_torch.py) or the CNN
# (examples/cnn.nnd vs bench/cnn_torch.py), run on the same machine in the
# same run: first both on one thread, then with all cores.
# Prints seconds per epoch, µs per step, test accuracy, and the speedup of
# nnd (PyTorch time / nnd time).
#
# usage: bash bench/run.sh [--model mlp|cnn] [--epochs N]   (default: mlp, 1 epoch)
# --model transformer (the char GPT, bench/transformer.py), --model rnn (bench/rnn.py)
# and --model gcn (a GCN on a 10,000-node graph, bench/gcn.py) run those Python
# benches with the other flags (--quick, --jax, --json FILE, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

USAGE="usage: bash bench/run.sh [--model mlp|cnn|transformer|rnn|gcn] [--epochs N]
       [more flags of transformer.py or rnn.py]"
EPOCHS=1
EPOCHS_GIVEN=()
MODEL=mlp
REST=()
while [ $# -gt 0 ]; do
  case $1 in
    --epochs) EPOCHS=$2; EPOCHS_GIVEN=(--epochs "$2"); shift 2 ;;
    --epochs=*) EPOCHS=${1#*=}; EPOCHS_GIVEN=(--epochs "$EPOCHS"); shift ;;
    --model) MODEL=$2; shift 2 ;;
    --model=*) MODEL=${1#*=}; shift ;;
    *) REST+=("$1"); shift ;;
  esac
done
case $MODEL in
  transformer|rnn|gcn) exec /usr/bin/python3 "bench/$MODEL.py" "${EPOCHS_GIVEN[@]}" "${REST[@]}" ;;
esac
if [ ${#REST[@]} -gt 0 ]; then echo "$USAGE" >&2; exit 2; fi
case $MODEL in
  mlp) NND_MODEL=examples/mnist_mlp.nnd; TORCH_SCRIPT=bench/mnist_mlp_torch.py; TITLE="Fashion-MNIST MLP" ;;
  cnn) NND_MODEL=examples/cnn.nnd;       TORCH_SCRIPT=bench/cnn_torch.py;       TITLE="Fashion-MNIST CNN" ;;
  *) echo "$USAGE" >&2; exit 2 ;;
esac

PY=/usr/bin/python3
CORES=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A fair opponent: Debian's PyTorch calls the system libblas.so.3, which is the
# slow reference BLAS unless OpenBLAS is installed (it then takes over through
# Debian's alternatives). Install it on demand; the tests never need it.
if ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing libopenblas0-pthread (PyTorch's BLAS)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
  else
    echo "warning: libopenblas0-pthread is not installed: PyTorch will use the reference BLAS" >&2
  fi
fi

if [ ! -x build/nnd ]; then
  echo "== building nnd"
  cmake -S . -B build >/dev/null
  cmake --build build -j2 >/dev/null
fi

# nnd: train, then turn its per-epoch JSON log into one line like the PyTorch one.
run_nnd() {  # $1: label of the row, $2: threads
  echo "== nnd ($1)"
  build/nnd train "$NND_MODEL" --epochs "$EPOCHS" --quiet --threads "$2" --log "$tmp/nnd.jsonl"
  $PY - "$tmp/nnd.jsonl" "$1" >>"$tmp/results.jsonl" <<'EOF'
import json, sys
epochs = [json.loads(line) for line in open(sys.argv[1])]
secs = sum(e["seconds"] for e in epochs)
print(json.dumps({"setting": sys.argv[2], "framework": "nnd", "epochs": len(epochs), "train_seconds": secs,
                  "test_accuracy": epochs[-1]["test_accuracy"]}))
EOF
}

run_torch() {  # $1: label of the row, $2: threads
  echo "== pytorch ($1)"
  $PY "$TORCH_SCRIPT" --epochs "$EPOCHS" --threads "$2" --json \
    | $PY -c 'import json, sys; r = json.loads(sys.stdin.read()); r["setting"] = sys.argv[1]; print(json.dumps(r))' "$1" \
    | tee -a "$tmp/results.jsonl"
}

# 1. one thread each: the baseline comparison
ONE="1 thread"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 run_nnd "$ONE" 1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 run_torch "$ONE" 1

# 2. all cores. PyTorch's own default here may be 1 thread (it can fail to detect
#    the cores), so ask for them explicitly; nnd too (--threads, same results).
ALL="$CORES cores"
run_nnd "$ALL" "$CORES"
run_torch "$ALL" "$CORES"

blas=$($PY -c 'import os, torch
print(next((os.path.realpath(l.split()[-1]) for l in open("/proc/self/maps") if "blas" in l), "none"))')

$PY - "$tmp/results.jsonl" "$blas" "$TITLE" <<'EOF'
import json, sys
STEPS = 1875  # 60000 training images / batch 32
rows = [json.loads(line) for line in open(sys.argv[1])]
print()
print(f"{sys.argv[3]}, {rows[0]['epochs']} epoch(s), batch 32, {STEPS} steps/epoch")
print(f"{'setting':<10} {'framework':<10} {'s/epoch':>8} {'us/step':>8} {'test acc':>9} {'speedup of nnd':>15}")
for setting in dict.fromkeys(r["setting"] for r in rows):
    pair = {r["framework"]: r for r in rows if r["setting"] == setting}
    ratio = pair["pytorch"]["train_seconds"] / pair["nnd"]["train_seconds"]
    for fw in ("nnd", "pytorch"):
        r = pair[fw]
        per_epoch = r["train_seconds"] / r["epochs"]
        print(f"{setting:<10} {fw:<10} {per_epoch:>8.3f} {per_epoch / STEPS * 1e6:>8.0f} {r['test_accuracy']:>9.4f}"
              f" {(f'{ratio:.2f}x' if fw == 'nnd' else ''):>15}")
print("nnd runs its big kernels on --threads threads; its results are the same for any count.")
print(f"PyTorch's BLAS: {sys.argv[2]}")
EOF
