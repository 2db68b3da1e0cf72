#!/usr/bin/env bash
# Regenerates the seed corpus (corpus/TARGET/) and the dictionaries (*.dict)
# of the fuzz targets from the examples and the tests' inputs. Run it when the
# language, the IR or a format changes, and commit what it writes; the fuzz
# runs themselves never write here (run.sh fuzzes a copy).
# usage: bash tests/fuzz/make_corpus.sh [BUILD]   (BUILD: where nnd is; build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
nnd=${1:-build}/nnd
py=/usr/bin/python3
out=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"/{nnd,nnir,nnprog,safetensors,idx,npy,csv,text}

# .nnd: every example and test model (the error tests reach the diagnostics)
for f in examples/*.nnd tests/*/*.nnd tests/*/*/*.nnd tests/*/Inputs/*.nnd; do
  cp "$f" "$out/nnd/$(echo "${f#*/}" | tr / -)"
done

# .nnir: the IR tests, and the elaborated and planned graphs of the models
# whose dumps stay small (lstm's unrolled graph is 240 KB)
for f in tests/*/*/*.nnir; do cp "$f" "$out/nnir/$(echo "${f#tests/}" | tr / -)"; done
for m in examples/*.nnd tests/runtime/Inputs/*.nnd; do
  for stage in elaborated planned; do
    f="$out/nnir/$(basename "$m" .nnd)-$stage.nnir"
    "$nnd" dump "$m" --stage=$stage > "$f"
    if [ "$(stat -c %s "$f")" -gt 32768 ]; then rm "$f"; fi
  done
done

# .nnprog: the Program texts of tests/program (read back whole) and the
# cases of its errors test (split-file sections)
for f in tests/program/Inputs/*.nnprog; do cp "$f" "$out/nnprog/$(basename "$f")"; done
/usr/lib/llvm-19/bin/split-file tests/program/errors.test "$tmp/nnprog"
for f in "$tmp"/nnprog/*.nnprog; do cp "$f" "$out/nnprog/errors-$(basename "$f")"; done

# IDX: the synthetic set of tests/runtime (plain and gzip'd), and one file of
# each element type
$py tests/runtime/Inputs/make_idx.py "$tmp/b" 8
for part in images labels; do
  gunzip -c "$tmp/b-$part.gz" > "$out/idx/brightest-$part.idx"
  gzip -n -c "$out/idx/brightest-$part.idx" > "$out/idx/brightest-$part.idx.gz"
done
$py - "$out/idx" <<'PY'
import struct, sys
kinds = {"i8": (0x09, "b"), "i16": (0x0B, "h"), "i32": (0x0C, "i"),
         "f32": (0x0D, "f"), "f64": (0x0E, "d")}
for name, (code, fmt) in kinds.items():
    values = [1, -2, 3, 4, 5, -6] if name[0] == "i" else [0.5, -1.25, 3.0, 1e-3, 2.5, -0.0]
    body = bytes([0, 0, code, 2]) + struct.pack(">II", 3, 2) + struct.pack(">6" + fmt, *values)
    open(f"{sys.argv[1]}/{name}.idx", "wb").write(body)
PY

# .npy: tests/runtime's files (good, Fortran order, cut, long, huge) and the
# other dtypes, in header versions 1 and 2
$py tests/runtime/Inputs/make_npy.py "$tmp/n" 4
for k in images labels fortran cut long huge; do
  cp "$tmp/n-$k.npy" "$out/npy/brightest-$k.npy"
done
$py - "$out/npy" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
x = np.arange(6).reshape(3, 2)
for t in ("<f4", "<i4", "<i2", "|i1", "|u1", "|b1"):
    np.save(f"{d}/{t[1:]}.npy", (x % 2 if t == "|b1" else x).astype(t))
np.lib.format.write_array(open(f"{d}/v2.npy", "wb"), x.astype("<f4"), version=(2, 0))
PY

# CSV: scikit-learn's files as the examples read them (comma-separated with a
# title line; blank-separated and gzip'd), and a header naming a column y
data=/usr/lib/python3/dist-packages/sklearn/datasets/data
head -n 5 "$data/breast_cancer.csv" > "$out/csv/breast_cancer.csv"
gunzip -c "$data/diabetes_data_raw.csv.gz" | head -n 4 > "$out/csv/diabetes.txt"
gzip -n -c "$out/csv/diabetes.txt" > "$out/csv/diabetes.txt.gz"
head -n 4 "$data/iris.csv" > "$out/csv/iris.csv"
printf 'x,y,z,w\n1,2,3,4\n5,6,7,8\n"9",10,11,12\n' > "$out/csv/header.csv"

# text: the start of a fortune file ('%' lines between units), a line
# without its newline, and a tab, a control byte and UTF-8 ([UNK])
head -n 24 /usr/share/games/fortunes/fortunes > "$out/text/fortunes.txt"
printf 'one\n%%\ntwo\ttabs\n%%\n\n%%\nthr\x01ee \xc3\xa9\n%%' > "$out/text/units.txt"
printf 'abcdefghij' > "$out/text/short.txt"

# safetensors: a checkpoint of tests/runtime/Inputs/brightest.nnd after one
# epoch of Adam (what safetensors.c's store expects), and small hand-made files
sed "s|DATA|$tmp/b|g" tests/runtime/Inputs/brightest.nnd > "$tmp/brightest.nnd"
"$nnd" train "$tmp/brightest.nnd" --epochs 1 --save "$out/safetensors/brightest.ckpt" --quiet \
  > /dev/null
$py - "$out/safetensors" <<'PY'
import json, struct, sys
def write(name, header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(f"{sys.argv[1]}/{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
write("empty", {})
state = {"format": "nnd-checkpoint-1", "epoch": "2", "step": "10", "rng": "0" * 64}
write("metadata", {"__metadata__": state})
write("i32", {"ids": {"dtype": "I32", "shape": [2, 3], "data_offsets": [0, 24]}}, bytes(24))
step = {"shape": [], "data_offsets": [0, 4], "dtype": "F32", "extra": [1, {"a": "b"}]}
write("scalar", {"step": step}, bytes(4))
PY

# dictionaries: the words of the language and of the textual IR, one per
# line (NL stands for a newline), quoted in libFuzzer's dictionary syntax
dict() { sort -u | sed 's/\\/\\\\/g; s/"/\\x22/g; s/^NL$/\\x0A/; s/.*/"&"/'; }
{
  printf '%s\n' model train data input loss metric extern block return repeat f32 i32 '{' '}' '[' ']' '(' ')' = , : '#' '"' \
    @ NL
  grep -oh '"[a-z_][a-z_0-9 |]*"' frontend/*.c | tr -d '"|' | tr ' ' '\n' | grep .
} | dict > tests/fuzz/nnd.dict
{
  printf '%s\n' 'graph @' '%' ' = ' ' : ' f32 i32 B '[' ']' '{' '}' '(' ')' , '"' // \
    'loc(' 'kernel(' 'arena(' 'max_batch(' NL
  # op names and attribute names from the op table: X(ENUM, "name", arity, kind, "attrs", flags)
  sed -n 's/^ *X([A-Z_]*, *"\([a-z_0-9]*\)", *[0-9], *[A-Z]*, *"\([a-z_,]*\)",.*/\1,\2/p' ir/ops.h |
    tr , '\n' | grep .
  grep -oh '"[a-z_][a-z_0-9]*"' ir/print.c ir/parse.c ir/graph.c | tr -d '"'
} | dict > tests/fuzz/nnir.dict
{
  printf '%s\n' entry input output param '"' '{' '}' '[' ']' '(' ')' , = : B f32 i32 'loc(' // NL
  # keywords, field names, kinds, roles and initialisers as program/ spells them
  grep -oh '"[a-z_][a-z_0-9]*"' program/parse.c program/entry.c program/types.c | tr -d '"'
} | dict > tests/fuzz/nnprog.dict
du -sh "$out"
